"""Data-parallel NequIP training under msrun: sharding, bucket agreement, and a 2-process run on 127.0.0.1 whose
ranks end with identical parameters, equal (float32 round-off) to a single-process run over the same global
batches; checkpoints of either kind resume the other; a failing rank ends the job with a clear message.

This file is also the msrun worker (``python test_distributed.py SPEC.json``): it trains with
``applications.nequip.train.Trainer`` and saves every rank's final state to ``rank<r>.npz``.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY_YAML = os.path.join(REPO, "applications", "nequip", "configs", "tiny.yaml")
TINY_NPZ = os.path.join(REPO, "applications", "nequip", "datasets", "tiny_cu_morse.npz")
MSRUN_TIMEOUT_S = 300   # a guard against hangs, not a speed target (CI runs tests on every core)


def _overrides(out_dir, run_name, max_epochs):
    """The tiny config cut down to what the check needs (one layer, no validation set: fewer compiles)."""
    return {"out_dir": str(out_dir), "run_name": run_name,
            "data": {"train_file": TINY_NPZ, "n_train": 8, "n_val": 0},
            "model": {"num_layers": 1},
            "training": {"batch_size": 4, "max_epochs": max_epochs, "progress": False, "plot_every": 0}}


def _cfg(out_dir, run_name, max_epochs):
    from applications.nequip.config import load_config

    return load_config(TINY_YAML, _overrides(out_dir, run_name, max_epochs))


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _msrun(workdir, args, env_extra=None, timeout=MSRUN_TIMEOUT_S):
    """Start ``msrun`` with 2 workers on 127.0.0.1 running this file as the worker (a Popen)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.update({"GLOG_v": "3", "OMP_NUM_THREADS": "1", "MS_NODE_TIMEOUT": "10"})
    env.update(env_extra or {})
    cmd = [os.path.join(os.path.dirname(sys.executable), "msrun"), "--worker_num=2", "--local_worker_num=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "--join=True",
           f"--log_dir={os.path.join(str(workdir), 'logs')}", "--cluster_time_out=120",
           "python", os.path.abspath(__file__)] + list(args)
    log = open(os.path.join(str(workdir), "msrun.out"), "w", encoding="utf-8")
    proc = subprocess.Popen(cmd, cwd=str(workdir), env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc.log_file, proc.deadline = log, time.monotonic() + timeout
    return proc


def _wait(proc):
    """Wait for msrun; on the deadline stop it (SIGINT makes msrun kill its workers) and fail."""
    try:
        rc = proc.wait(timeout=max(proc.deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rc = None
    proc.log_file.close()
    return rc


def _logs(workdir):
    out = []
    for name in ("msrun.out", "logs/worker_0.log", "logs/worker_1.log"):
        path = os.path.join(str(workdir), name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = [l for l in fh if not l.startswith(("[WARNING]", "[INFO]"))]
            out.append(f"--- {name}\n" + "".join(lines[-40:]))
    return "\n".join(out)


# ------------------------------------------------------------------ fast checks (no msrun)
def _loader(n_frames, batch_size, shuffle=True):
    from applications.nequip.data import BatchLoader, TypeMapper, build_neighbors, read_dataset

    frames = build_neighbors(read_dataset(TINY_NPZ)[:n_frames], 4.0)
    # drop some edges of a few frames so that batches need different buckets
    for i, f in enumerate(frames):
        if i % 3 == 0:
            keep = len(f.edge_src) // 3
            f.edge_src, f.edge_dst, f.edge_shift = f.edge_src[:keep], f.edge_dst[:keep], f.edge_shift[:keep]
    return BatchLoader(frames, TypeMapper.from_frames(frames), batch_size, shuffle=shuffle, seed=3,
                       edge_buckets=[64, 128, 256, 512, 1024])


@pytest.mark.parametrize("size,batch_size,n_frames", [(2, 4, 10), (3, 4, 11), (2, 5, 7), (4, 4, 9)])
def test_sharding_covers_every_structure_once_with_equal_steps_and_buckets(size, batch_size, n_frames):
    from applications.nequip.distributed import ShardedBatchLoader

    loader = _loader(n_frames, batch_size)
    for epoch in (0, 1):
        per_rank = [list(ShardedBatchLoader(loader, r, size).epoch(epoch)) for r in range(size)]
        assert all(len(b) == len(loader) for b in per_rank)          # same number of steps on every rank
        single = list(loader.epoch(epoch))
        seen = []
        for k in range(len(loader)):
            step = [per_rank[r][k] for r in range(size)]
            assert len({b.bucket for b in step}) == 1                   # same padded shapes: same graph
            ids = np.concatenate([b.frame_ids for b in step]).astype(int)
            # the step's structures are the single-process batch's, split evenly over the ranks
            assert ids.tolist() == single[k].frame_ids.tolist()
            assert max(b.num_graphs for b in step) - min(b.num_graphs for b in step) <= 1
            for b in step:
                assert b.g_pad == -(-batch_size // size) + 1
                assert b.atom_mask.sum() == sum(loader.frames[i].num_atoms for i in b.frame_ids)
                assert b.edge_mask.sum() == sum(len(loader.frames[i].edge_src) for i in b.frame_ids)
            seen.extend(ids.tolist())
        assert sorted(seen) == list(range(n_frames))                    # every structure once per epoch


def test_buckets_follow_the_largest_share():
    from applications.nequip.distributed import ShardedBatchLoader

    loader = _loader(8, 4, shuffle=False)          # frames 0, 3, 6 have a third of their edges
    shards = [ShardedBatchLoader(loader, r, 2) for r in range(2)]
    small, full = len(loader.frames[0].edge_src), len(loader.frames[1].edge_src)
    b0, b1 = (next(s.epoch(0)) for s in shards)    # rank 0: frames 0, 1; rank 1: frames 2, 3
    assert b0.frame_ids.tolist() == [0, 1] and b1.frame_ids.tolist() == [2, 3]
    need = max(small + full, full + small)
    assert b0.e_pad == b1.e_pad == min(x for x in loader.edge_buckets if x >= need)


def test_empty_share_is_padding_only():
    from applications.nequip.distributed import ShardedBatchLoader, empty_batch

    loader = _loader(5, 4, shuffle=False)
    last = list(ShardedBatchLoader(loader, 1, 2).epoch(0))[-1]     # the last global batch holds 1 frame
    assert last.num_graphs == 0 and last.frame_ids.size == 0
    for name in ("atom_mask", "edge_mask", "graph_mask", "energy_mask", "forces_mask", "stress_mask", "n_atoms"):
        assert not getattr(last, name).any(), name
    assert (last.edge_src == last.n_pad - 1).all() and (last.batch == last.g_pad - 1).all()
    assert last.bucket == list(ShardedBatchLoader(loader, 0, 2).epoch(0))[-1].bucket
    assert empty_batch(32, 64, 2).bucket == (32, 64, 3)


def test_single_process_strategy_changes_nothing():
    from applications.nequip.distributed import SingleProcess, from_environment, launched_by_msrun

    sp = from_environment({})
    assert isinstance(sp, SingleProcess) and sp.is_main and sp.size == 1
    loader, opt = object(), object()
    assert sp.shard(loader) is loader and sp.wrap_optimizer(opt) is opt
    sums = np.arange(13.0)
    assert sp.reduce_sums(sums) is sums and sp.from_main(3.0) == 3.0
    assert sp.agree_stop(True) and not sp.agree_stop(False)
    assert launched_by_msrun({"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "2"})
    assert not launched_by_msrun({"MS_ROLE": "MS_WORKER"})


def test_bad_input_data_parallel_config():
    from types import SimpleNamespace

    from applications.nequip.distributed import DataParallel, ShardedBatchLoader

    fake = SimpleNamespace(size=4)
    with pytest.raises(ValueError, match="float32"):
        DataParallel.check(fake, {"dtype": "float64", "training": {"batch_size": 8}})
    with pytest.raises(ValueError, match="batch_size=2 is the global batch"):
        DataParallel.check(fake, {"dtype": "float32", "training": {"batch_size": 2}})
    with pytest.raises(ValueError, match="global batch"):
        ShardedBatchLoader(_loader(4, 2), 0, 3)
    with pytest.raises(ValueError, match="rank 2"):
        ShardedBatchLoader(_loader(4, 2), 2, 2)


# ------------------------------------------------------------------ 2 processes under msrun
@pytest.mark.slow
def test_two_processes_match_a_single_process_run(tmp_path, graph_mode):
    """msrun, 2 workers on 127.0.0.1: the DP run resumes from a single-process (epoch-0) checkpoint, trains 2
    epochs (4 steps of 2 + 2 structures); both ranks end bit-identical and equal to one process over the same
    global batches of 4; a single process resumes from the DP checkpoint."""
    from applications.nequip.train import Trainer

    t0 = time.monotonic()
    reference = Trainer(_cfg(tmp_path, "single", 2))
    # a checkpoint written by a single-process trainer (before any step) that the 2-process run resumes from
    reference.save(os.path.join(str(tmp_path), "dp", "last.ckpt"))
    spec = {"overrides": _overrides(tmp_path, "dp", 2), "resume": True, "dump_dir": str(tmp_path)}
    with open(tmp_path / "spec.json", "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    proc = _msrun(tmp_path, [str(tmp_path / "spec.json")])
    initial = reference.model_arrays()
    reference.train()                                  # meanwhile: the single-process reference
    rc = _wait(proc)
    elapsed = time.monotonic() - t0
    assert rc == 0, f"msrun exit {rc} after {elapsed:.0f} s\n{_logs(tmp_path)}"

    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    ref = reference.state_arrays()
    assert set(ranks[0]) == set(ranks[1]) == set(ref)
    for k in ref:          # weights, EMA weights and optimizer state: identical on both ranks
        np.testing.assert_array_equal(ranks[0][k], ranks[1][k], err_msg=k)
    worst = 0.0
    for k in ref:
        if k.startswith(("model/", "ema/")):
            scale = np.abs(ref[k]).max() + 1e-6
            worst = max(worst, float(np.abs(ranks[0][k] - ref[k]).max() / scale))
            np.testing.assert_allclose(ranks[0][k], ref[k], rtol=2e-5, atol=2e-5 * scale, err_msg=k)
    moved = max(float(np.abs(ref[k] - a).max()) for k, a in initial.items())
    assert moved > 1e-4                                 # the runs did train
    print(f"\n2 processes vs 1: max relative parameter difference {worst:.2e}; total {elapsed:.0f} s")

    # only rank 0 wrote files; the metrics are the global ones
    run = tmp_path / "dp"
    log = (run / "log.txt").read_text(encoding="utf-8").splitlines()
    assert sum("epoch 2/2:" in line for line in log) == 1
    with open(run / "metrics.csv", encoding="utf-8") as fh:
        rows = [line.split(",") for line in fh.read().splitlines()]
    header, rows = rows[0], rows[1:]
    assert len(rows) == 2
    for row, hist in zip(rows, reference.history):
        for col in ("train_loss", "train_f_mae_meV_A", "train_e_mae_meV"):
            assert np.isclose(float(row[header.index(col)]), hist[col], rtol=1e-4), col

    # a single process resumes from the data-parallel checkpoint
    resumed = Trainer(_cfg(tmp_path, "dp", 3), resume=True)
    assert resumed.epoch == 2
    got = resumed.state_arrays()
    for k in ref:
        np.testing.assert_array_equal(got[k], ranks[0][k], err_msg=k)


@pytest.mark.slow
def test_a_failing_rank_ends_the_job_with_a_clear_message(tmp_path):
    spec = {"overrides": _overrides(tmp_path, "fail", 1), "fail_rank": 1, "dump_dir": str(tmp_path)}
    with open(tmp_path / "spec.json", "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    t0 = time.monotonic()
    rc = _wait(_msrun(tmp_path, [str(tmp_path / "spec.json")], timeout=240))
    elapsed = time.monotonic() - t0
    logs = _logs(tmp_path)
    assert rc not in (0, None), f"msrun exit {rc} after {elapsed:.0f} s\n{logs}"
    assert "[rank 1/2] failed" in logs and "injected failure on rank 1" in logs, logs
    print(f"\nfailing rank: msrun exit {rc} after {elapsed:.0f} s")


# ------------------------------------------------------------------ the msrun worker
def _worker(spec_path):
    os.environ.setdefault("GLOG_v", "3")
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    from applications.nequip.distributed import from_environment

    dp = from_environment()                 # first: under msrun the scheduler process serves inside init()
    import mindspore as ms

    ms.device_context.cpu.op_tuning.threads_num(1)
    if spec.get("fail_rank") == dp.rank:
        raise RuntimeError(f"injected failure on rank {dp.rank}")
    from applications.nequip.config import load_config
    from applications.nequip.train import Trainer

    trainer = Trainer(load_config(TINY_YAML, spec["overrides"]), resume=spec.get("resume", False),
                      distributed=dp)
    trainer.train()
    np.savez(os.path.join(spec["dump_dir"], f"rank{dp.rank}.npz"), **trainer.state_arrays())


if __name__ == "__main__":
    _worker(sys.argv[1])
