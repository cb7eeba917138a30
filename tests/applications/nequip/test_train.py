"""NequIP training: a short run lowers the loss and writes its outputs (resolved config, strict JSON, plots of a
single epoch); resume continues exactly like an uninterrupted run, also after a SIGINT in the middle of an epoch;
the metric sums kept on the device equal the host-side ones; config errors are named with one wording."""
import csv
import os
import re
import signal
import sys

import numpy as np
import pytest
import yaml

from applications.nequip.config import load_config
from applications.nequip.train import CosineAnnealing, Progress, ReduceLROnPlateau, Trainer, main
from applications.nequip.training.interrupt import InterruptGuard, exit_code
from applications.nequip.training.reporting import format_duration, model_summary
from tests.applications.nequip.conftest import (REPO, TINY_YAML, needs_model, run_command, set_args, strict_json,
                                                tiny_cfg, tiny_overrides)

pytestmark = needs_model


def assert_same_state(reference, checkpoint):
    """The state of the reference trainer equals the one saved in ``checkpoint`` bit for bit (history too)."""
    from applications.nequip.checkpoint import load_checkpoint

    got, meta = load_checkpoint(checkpoint)
    ref = reference.state_arrays()
    assert set(ref) == set(got)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    assert len(reference.history) == len(meta["history"])
    for a, b in zip(reference.history, meta["history"]):
        for k in a:
            if k != "wall_s":
                assert a[k] == b[k], (k, a[k], b[k])


@pytest.fixture(scope="module")
def warm_cache(shared_cache):
    """The compile cache folder shared by the training processes of the tests (same graphs: the first fills it)."""
    return shared_cache


def train_command(out_dir, run_name, cache, *extra, **training):
    """``train`` of the tiny config in a fresh process, through the module's compile cache."""
    return run_command(["train", "--config", TINY_YAML, "--threads", "1", "--compile-cache", cache,
                        *set_args(tiny_overrides(out_dir, run_name, **training)), *extra])


@pytest.mark.slow
def test_short_training_lowers_the_loss_and_writes_outputs(trained_run):
    trainer, summary = trained_run
    hist = trainer.history
    assert [r["epoch"] for r in hist] == [1, 2, 3]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    run = trainer.run_dir
    for name in ("last.ckpt", "best.ckpt", "metrics.csv", "loss_curves.png", "force_parity.png",
                 "final_metrics.json", "timing.json", "log.txt", "config.yaml"):
        assert os.path.isfile(os.path.join(run, name)), name
    with open(os.path.join(run, "metrics.csv"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and float(rows[0]["val_f_mae_meV_A"]) > 0
    assert np.isclose(float(rows[-1]["val_f_mae_meV_A"]), hist[-1]["val_f_mae_meV_A"])
    final = strict_json(os.path.join(run, "final_metrics.json"))
    assert final["val"]["f_mae"] > 0 and final["epochs"] == 3
    timing = strict_json(os.path.join(run, "timing.json"))
    assert timing["compile_total_s"] > 0 and len(timing["compile_s"]) == 2          # train step, evaluation
    assert timing["step_median_s"] > 0 and len(timing["epoch_s"]) == 3
    # the run folder holds the resolved config: loading it gives the run's config back
    with open(os.path.join(run, "config.yaml"), encoding="utf-8") as fh:
        assert load_config(yaml.safe_load(fh)) == trainer.cfg
    log = open(os.path.join(run, "log.txt"), encoding="utf-8").read()
    assert "ConvLayer" in log and "layers.1" in log and "trainable" in log        # the per-block summary
    # compile feedback (loading: another test process filled the shared compile cache first)
    n_pad = next(iter(trainer.train_loader.epoch(0))).bucket[0]    # the one padded size (atoms) of the run
    assert re.search(rf"(compiling|loading) the train step for bucket \({n_pad}, \d+\).*\n.*ready in [\d.]+ s", log)
    assert not [f for f in os.listdir(run) if f.startswith(".tmp") or f.endswith(".tmp")]


@pytest.mark.slow
def test_device_metric_sums_add_up_the_steps_and_reset(trained_run):
    """The sums the train step accumulates on the device: one per step, the losses and error sums it returns,
    added up; counts that match the batch; zero after a reset (the shared trained run is restored after)."""
    import mindspore as ms

    from applications.nequip.model import batch_inputs
    from applications.nequip.training.metrics import split_sums
    from applications.nequip.training.state import restore_arrays

    trainer, _ = trained_run
    snapshot = trainer.state_arrays()
    try:
        assert not trainer.step.sums.asnumpy().any()            # read and reset at the end of every epoch
        decay = ms.Tensor(0.5, trainer.dtype)
        losses, errors = [], []
        batches = list(trainer.train_loader.epoch(0))
        for batch in batches:
            loss, err = trainer.step(*batch_inputs(batch, trainer.dtype), decay)
            losses.append(float(loss.asnumpy()))
            errors.append(err.asnumpy().astype(np.float64))
        steps, loss_sum, sums = split_sums(trainer.step.sums.asnumpy())
        assert steps == len(batches) == 2
        assert loss_sum == pytest.approx(sum(losses), rel=1e-6)
        np.testing.assert_allclose(list(sums.values()), np.sum(errors, axis=0), rtol=1e-6)
        assert sums["n_e"] == sum(b.num_graphs for b in batches)
        assert sums["n_f"] == 3 * sum(b.atom_mask.sum() for b in batches)
        trainer.step.reset_sums()
        assert not trainer.step.sums.asnumpy().any()
    finally:
        restore_arrays(trainer.net, trainer.step, snapshot, "the snapshot")


@pytest.mark.slow
def test_resume_continues_exactly(trained_run, tmp_path, warm_cache):
    reference, _ = trained_run
    first = train_command(tmp_path, "split", warm_cache, max_epochs=1)
    assert first.returncode == 0, first.stderr[-3000:]
    again = train_command(tmp_path, "split", warm_cache, max_epochs=3)             # never overwrite a run silently
    assert again.returncode == 2 and "--resume" in again.stderr and again.stderr.count("\n") == 1
    resumed = train_command(tmp_path, "split", warm_cache, "--resume", max_epochs=3)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout and "after epoch 1" in resumed.stdout
    assert_same_state(reference, tmp_path / "split" / "last.ckpt")


def _interrupt_driver(config, out_dir, run_name, after_updates):
    """(In a fresh process) train with the command line, sending SIGINT to itself before update
    ``after_updates + 1``."""
    import applications.nequip.training.loop as loop
    from applications.nequip.train import main as train_main

    original = loop.Trainer.ema_decay

    def hooked(self):
        if self.state.num_updates == after_updates:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self)

    loop.Trainer.ema_decay = hooked
    overrides = tiny_overrides(out_dir, run_name)
    return train_main(["--config", config, "--threads", "1", *set_args(overrides)])


@pytest.mark.slow
def test_sigint_mid_epoch_saves_and_resume_matches_an_uninterrupted_run(trained_run, tmp_path, warm_cache):
    import subprocess

    reference, _ = trained_run
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", NEQUIP_COMPILE_CACHE=warm_cache)
    proc = subprocess.run([sys.executable, __file__, TINY_YAML, str(tmp_path), "sig", "2"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    # MindSpore turns a SIGINT that arrives while it runs a graph into a SIGTERM: 130 or 143
    assert proc.returncode in (exit_code(signal.SIGINT), exit_code(signal.SIGTERM)), proc.stderr[-3000:]
    assert "--resume" in proc.stdout and "interrupted in epoch 2 after step 1/2" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr
    resumed = train_command(tmp_path, "sig", warm_cache, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "after epoch 1, step 1" in resumed.stdout
    assert_same_state(reference, tmp_path / "sig" / "last.ckpt")


@pytest.mark.slow
def test_sigterm_from_outside_while_compiling(tmp_path, warm_cache):
    """A real external SIGTERM while the graphs compile (or load from the cache): the run stops before its first
    step, saves, exits 143, and says how to resume."""
    import subprocess
    import time

    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", NEQUIP_COMPILE_CACHE=warm_cache, GLOG_v="3")
    args = [sys.executable, "-u", "-m", "applications.nequip.train", "--config", TINY_YAML, "--threads", "1",
            *set_args(tiny_overrides(tmp_path, "term"))]
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        lines.append(line)
        if "the train step for bucket" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    text = "".join(lines) + out
    assert proc.returncode == exit_code(signal.SIGTERM), err[-3000:]
    assert "--resume" in text and os.path.isfile(tmp_path / "term" / "last.ckpt"), text
    resumed = Trainer(tiny_cfg(tmp_path, "term"), resume=True, log=lambda line: None)
    assert (resumed.epoch, resumed.num_updates) == (0, 0)


def test_resume_with_another_model_or_without_a_run_is_refused(tmp_path):
    from applications.nequip.checkpoint import save_checkpoint

    cfg = tiny_cfg(tmp_path, "other")
    os.makedirs(tmp_path / "other")
    save_checkpoint(str(tmp_path / "other" / "last.ckpt"), {"model/w": np.ones(1)}, {"config": cfg, "stats": {}})
    cfg = tiny_cfg(tmp_path, "other", max_epochs=4)
    cfg["model"]["num_features"] = 8
    with pytest.raises(ValueError, match="model section"):
        Trainer(cfg, resume=True)
    with pytest.raises(ValueError, match="no checkpoint"):
        Trainer(tiny_cfg(tmp_path, "never_ran"), resume=True)
    assert not os.path.exists(tmp_path / "never_ran")


def test_bad_input_config_errors_are_named_with_one_wording(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown key 'model.lmax'"):
        load_config({"model": {"lmax": 2}})
    with pytest.raises(ValueError, match="config: model.l_max must be an integer >= 0, got -1"):
        load_config({"model": {"l_max": -1}})
    with pytest.raises(ValueError, match="config: training.learning_rate must be a number > 0, got 0"):
        load_config({"training": {"learning_rate": 0}})
    with pytest.raises(ValueError, match="config: training.energy_weight must be a number >= 0, got -0.01"):
        load_config({"training": {"energy_weight": -0.01}})
    with pytest.raises(ValueError, match="all loss weights"):
        load_config({"training": {"energy_weight": 0, "force_weight": 0}})
    with pytest.raises(ValueError, match="lr_scheduler must be 'plateau' or 'cosine', got 'step'"):
        load_config({"training": {"lr_scheduler": "step"}})
    with pytest.raises(ValueError, match="nonlinearity_gates.e must be one of abs, sigmoid, silu, ssp, tanh"):
        load_config({"model": {"nonlinearity_gates": {"e": "relu"}}})
    with pytest.raises(ValueError, match="data.format must be one of auto, extxyz, npz, rmd17, sgdml"):
        load_config({"data": {"format": "xyz"}})
    with pytest.raises(ValueError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    assert main(["--config", TINY_YAML, "--set", "training.batchsize=3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: config: unknown key 'training.batchsize'")


def test_config_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("data:\n  train_file: ../data/x.npz\n  test_file: /abs/y.npz\n")
    monkeypatch.chdir(REPO)
    cfg = load_config(str(tmp_path / "sub" / "c.yaml"), {"data": {"test_file": "rel.npz"}})
    assert cfg["data"]["train_file"] == str(tmp_path / "data" / "x.npz")
    assert cfg["data"]["test_file"] == os.path.join(REPO, "rel.npz")     # --set values: the working directory
    assert load_config(TINY_YAML)["data"]["train_file"] == os.path.join(REPO, "applications", "nequip", "datasets",
                                                                        "tiny_cu_morse.npz")


@pytest.mark.slow
def test_runs_from_another_folder_with_a_copied_config(tmp_path, warm_cache):
    """A config copied elsewhere with its dataset next to it, run from a third folder: paths resolve against the
    config file, outputs land under the working directory."""
    import shutil

    (tmp_path / "cfg").mkdir()
    (tmp_path / "work").mkdir()
    shutil.copy(os.path.join(REPO, "applications", "nequip", "datasets", "tiny_cu_morse.npz"), tmp_path / "cfg")
    text = open(TINY_YAML, encoding="utf-8").read().replace("../datasets/tiny_cu_morse.npz", "tiny_cu_morse.npz")
    (tmp_path / "cfg" / "run.yaml").write_text(text)
    proc = run_command(["train", "--config", str(tmp_path / "cfg" / "run.yaml"), "--threads", "1",
                        "--compile-cache", warm_cache, *set_args(tiny_overrides("out", "tiny", max_epochs=1))],
                       cwd=str(tmp_path / "work"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = strict_json(proc.stdout[proc.stdout.index("\n{") + 1:])
    assert summary["epochs"] == 1 and summary["run_dir"] == str(tmp_path / "work" / "out" / "tiny")
    cfg = yaml.safe_load((tmp_path / "work" / "out" / "tiny" / "config.yaml").read_text())
    assert cfg["data"]["train_file"] == str(tmp_path / "cfg" / "tiny_cu_morse.npz")


def test_scheduler_progress_ema_schedule_and_interrupt_guard():
    s = ReduceLROnPlateau(1.0, factor=0.5, patience=2, min_lr=0.2)
    lrs = [s.step(v) for v in (5, 4, 4, 4, 4, 4, 4, 4, 4)]
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    state = s.state()
    t = ReduceLROnPlateau(9.0)
    t.load(state)
    assert t.step(4) == s.step(4)
    c = CosineAnnealing(2.0, num_epochs=10, min_lr=0.1)
    lrs = [c.step(None) for _ in range(12)]
    want = [0.1 + 0.5 * 1.9 * (1 + np.cos(np.pi * min(e, 10) / 10)) for e in range(1, 13)]
    np.testing.assert_allclose(lrs, want, rtol=1e-12)
    d = CosineAnnealing(2.0, num_epochs=10, min_lr=0.1)
    d.load(CosineAnnealing(2.0, 10, 0.1).state() | {"epoch": 3, "lr": lrs[2]})
    assert d.step(None) == pytest.approx(lrs[3])
    import io

    stream = io.StringIO()
    bar = Progress(3, "epoch 1", stream=stream)
    bar.update(compiled=True)
    assert bar.rate() == 0.0              # a compiling step does not count towards the rate
    bar.update(loss=0.5)
    bar.update()
    bar.close()
    assert "3/3" in stream.getvalue() and "loss=0.5" in stream.getvalue()
    assert format_duration(30) == "30 s" and format_duration(7200) == "2.0 h"
    fake = type("T", (), {"cfg": {"training": {"ema_decay": 0.99}},
                          "state": type("S", (), {"num_updates": 0})()})()
    assert Trainer.ema_decay(fake) == pytest.approx(0.1)
    fake.state.num_updates = 10 ** 6
    assert Trainer.ema_decay(fake) == 0.99
    before = signal.getsignal(signal.SIGINT)
    with InterruptGuard() as guard:
        signal.raise_signal(signal.SIGINT)
        assert guard.signal == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before


def test_model_summary_lists_every_block():
    import mindspore as ms

    from tests.applications.nequip.conftest import small_net

    lines = model_summary(small_net())
    text = "\n".join(lines)
    for block in ("embedding", "radial", "layers.0", "layers.1", "output_hidden", "output", "total"):
        assert block in text, block
    total = int(lines[-1].split()[1])
    assert total == sum(int(np.prod(p.shape)) for p in small_net().trainable_params())
    assert lines[0] == "precision: float64"
    assert model_summary(small_net(dtype=ms.float32, compute_dtype=ms.float16))[0] == \
        "precision: float32, products in float16 (compute_dtype)"


if __name__ == "__main__":
    sys.exit(_interrupt_driver(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
