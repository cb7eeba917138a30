"""Data-parallel scaling of NequIP training: steps per second and the parameters after N steps, for 1 process and
for P processes launched with MindSpore's ``msrun`` (same global batches, so the parameters must agree to
float32 round-off).

Usage (repository root)::

    python scripts/bench_nequip_scaling.py                         # CPU: 1 and 2 processes, tiny config
    python scripts/bench_nequip_scaling.py --procs 1 2 4 --steps 40 --set model.num_features=16
    python scripts/bench_nequip_scaling.py --device_target Ascend --devices 8   # 1 and 8 processes, one per card

``training.batch_size`` is the global batch (split over the processes); the default here is 8. Each run trains
``--steps`` global steps (rounded up to whole epochs) of the compiled train step, with no validation set. The
step time is the median over the steps after the first (compile) one and includes the gradient all-reduce and
the metric reduction; ``run_s`` is the wall time of the whole job (start-up, cluster, compile, teardown).
Results go to stdout and ``--out`` (JSON). The script is also its own msrun worker (``... worker SPEC.json``).
"""
import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_YAML = os.path.join(REPO, "applications", "nequip", "configs", "tiny.yaml")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------- worker
def worker(spec_path):
    """One process of a run: train, then write ``rank<r>.npz`` (weights) and, on rank 0, ``result.json``."""
    os.environ.setdefault("GLOG_v", "3")
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    sys.path.insert(0, REPO)
    from applications.nequip.distributed import from_environment

    dp = from_environment()
    import mindspore as ms

    if spec["device_target"] != "CPU":
        ms.set_device(spec["device_target"], int(os.environ.get("DEVICE_ID", "0")))
    else:
        ms.device_context.cpu.op_tuning.threads_num(spec["threads"])
    from applications.nequip.config import load_config
    from applications.nequip.train import Trainer

    cfg = load_config(spec["config"], spec["overrides"])
    trainer = Trainer(cfg, distributed=dp, log=lambda line: None)
    spe = len(trainer.train_loader)
    trainer.cfg["training"]["max_epochs"] = max(1, math.ceil(spec["steps"] / spe))
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    np.savez(os.path.join(spec["out_dir"], f"rank{dp.rank}.npz"), **trainer.model_arrays())
    if dp.is_main:
        steps = trainer.timing["step_s"]
        result = {"procs": dp.size, "steps": trainer.num_updates, "steps_per_epoch": spe,
                  "compile_s": trainer.timing["compile_s"], "step_median_s": float(np.median(steps)),
                  "steps_per_s": 1.0 / float(np.median(steps)), "train_s": train_s,
                  "global_batch": cfg["training"]["batch_size"]}
        with open(os.path.join(spec["out_dir"], "result.json"), "w", encoding="utf-8") as fh:
            json.dump(result, fh)


# ----------------------------------------------------------------------------------------------- driver
def run(procs, args, work):
    """Train with ``procs`` processes (plain python for 1, msrun otherwise); returns the result dict."""
    out_dir = os.path.join(work, f"p{procs}")
    os.makedirs(out_dir, exist_ok=True)
    overrides = {"out_dir": out_dir, "run_name": "run", "data": {"n_val": 0},
                 "training": {"batch_size": 8, "progress": False, "plot_every": 0, "early_stopping_patience": 10**6}}
    sys.path.insert(0, REPO)
    from applications.nequip.config import parse_set

    user = parse_set(args.set)
    for section, value in user.items():
        if isinstance(value, dict):
            overrides.setdefault(section, {}).update(value)
        else:
            overrides[section] = value
    train_file = overrides["data"].get("train_file")
    if train_file and not os.path.isabs(train_file):
        # a --set path is relative to this folder (the worker runs in out_dir); the config's own paths are
        # relative to the config file, which load_config resolves
        overrides["data"]["train_file"] = os.path.abspath(train_file)
    spec = {"config": os.path.abspath(args.config), "overrides": overrides, "steps": args.steps,
            "out_dir": out_dir, "device_target": args.device_target, "threads": args.threads}
    spec_path = os.path.join(out_dir, "spec.json")
    with open(spec_path, "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("GLOG_v", "3")
    env.setdefault("OMP_NUM_THREADS", str(args.threads))
    env.setdefault("MS_NODE_TIMEOUT", "30")
    script = os.path.abspath(__file__)
    if procs == 1:
        cmd = [sys.executable, script, "worker", spec_path]
    else:
        cmd = [os.path.join(os.path.dirname(sys.executable), "msrun"), f"--worker_num={procs}",
               f"--local_worker_num={procs}", "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
               "--join=True", f"--log_dir={os.path.join(out_dir, 'logs')}", "--cluster_time_out=120",
               "python", script, "worker", spec_path]
    t0 = time.perf_counter()
    with open(os.path.join(out_dir, "stdout.txt"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=out_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)      # msrun stops its workers on SIGINT
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            raise SystemExit(f"{procs} process(es): no result within {args.timeout} s; logs in {out_dir}")
    if rc != 0:
        raise SystemExit(f"{procs} process(es) failed (exit {rc}); logs in {out_dir}")
    with open(os.path.join(out_dir, "result.json"), encoding="utf-8") as fh:
        result = json.load(fh)
    result["run_s"] = time.perf_counter() - t0
    result["params"] = [dict(np.load(os.path.join(out_dir, f"rank{r}.npz"))) for r in range(procs)]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=TINY_YAML)
    parser.add_argument("--procs", type=int, nargs="+", default=None,
                        help="process counts (default: 1 and --devices)")
    parser.add_argument("--devices", type=int, default=None,
                        help="devices on this machine (default: 2 on CPU, else the device count MindSpore reports)")
    parser.add_argument("--device_target", default="CPU", choices=["CPU", "GPU", "Ascend"])
    parser.add_argument("--steps", type=int, default=20, help="global train steps per run (whole epochs)")
    parser.add_argument("--threads", type=int, default=1, help="CPU kernel threads per process")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--out", default=None, help="write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    args = parser.parse_args(argv)
    devices = args.devices
    if devices is None:
        if args.device_target == "CPU":
            devices = 2
        else:
            import mindspore as ms

            devices = int(ms.hal.device_count(args.device_target))
    procs = args.procs or sorted({1, devices})
    work = tempfile.mkdtemp(prefix="nequip_scaling_")
    results = []
    try:
        for p in procs:
            results.append(run(p, args, work))
            r = results[-1]
            print(f"{p} process(es): {r['steps_per_s']:.2f} steps/s (median step {r['step_median_s'] * 1e3:.1f} ms, "
                  f"{r['steps']} steps of a global batch of {r['global_batch']}), compile "
                  f"{sum(r['compile_s'].values()):.1f} s, job {r['run_s']:.0f} s", flush=True)
        base = results[0]["params"][0]
        rows = []
        for r in results:
            same = all(np.array_equal(q[k], r["params"][0][k]) for q in r["params"] for k in base)
            diff = max(float(np.abs(r["params"][0][k] - base[k]).max() / (np.abs(base[k]).max() + 1e-12))
                       for k in base)
            rows.append({k: v for k, v in r.items() if k != "params"})
            rows[-1].update(ranks_identical=same, max_rel_param_diff_vs_first=diff,
                            speedup_vs_first=r["steps_per_s"] / results[0]["steps_per_s"])
            print(f"{r['procs']} process(es): ranks identical {same}; parameters vs {results[0]['procs']} "
                  f"process(es): max relative difference {diff:.2e}; speed-up "
                  f"{rows[-1]['speedup_vs_first']:.2f}x", flush=True)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                json.dump({"device_target": args.device_target, "runs": rows}, fh, indent=2)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"run directories kept in {work}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        worker(sys.argv[2])
    else:
        sys.exit(main())
