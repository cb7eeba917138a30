"""NequIP training: a short run lowers the loss and writes its outputs; resume continues exactly like an
uninterrupted run; checkpoints are atomic and corrupt ones give clear errors; config errors are named."""
import csv
import json
import os

import numpy as np
import pytest

from applications.nequip import train as train_mod
from applications.nequip.checkpoint import load_checkpoint, save_checkpoint
from applications.nequip.config import load_config
from applications.nequip.train import CosineAnnealing, Progress, ReduceLROnPlateau, Trainer, main
from tests.applications.nequip.conftest import REPO, needs_model

pytestmark = needs_model
TINY_YAML = os.path.join(REPO, "applications", "nequip", "configs", "tiny.yaml")


def tiny_cfg(out_dir, run_name="tiny", **training):
    train = {"max_epochs": 3, "batch_size": 4, "progress": False, "plot_every": 0}
    train.update(training)
    return load_config(TINY_YAML, {"out_dir": str(out_dir), "run_name": run_name,
                                   "data": {"train_file": os.path.join(REPO, "applications/nequip/datasets/"
                                                                             "tiny_cu_morse.npz"),
                                            "n_train": 8, "n_val": 4},
                                   "training": train})


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Three epochs in one go (the reference for the resume test)."""
    out = tmp_path_factory.mktemp("runs")
    trainer = Trainer(tiny_cfg(out, "full", max_epochs=3))
    summary = trainer.train()
    return out, trainer, summary


@pytest.mark.slow
def test_short_training_lowers_the_loss_and_writes_outputs(full_run):
    out, trainer, summary = full_run
    hist = trainer.history
    assert [r["epoch"] for r in hist] == [1, 2, 3]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    run = os.path.join(str(out), "full")
    for name in ("last.ckpt", "best.ckpt", "metrics.csv", "loss_curves.png", "force_parity.png",
                 "final_metrics.json", "timing.json", "log.txt"):
        assert os.path.isfile(os.path.join(run, name)), name
    with open(os.path.join(run, "metrics.csv"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and float(rows[0]["val_f_mae_meV_A"]) > 0
    # meV: the CSV holds 1000x the eV metric
    assert np.isclose(float(rows[-1]["val_f_mae_meV_A"]), hist[-1]["val_f_mae_meV_A"])
    with open(os.path.join(run, "final_metrics.json"), encoding="utf-8") as fh:
        final = json.load(fh)
    assert final["val"]["f_mae"] > 0 and final["epochs"] == 3
    timing = summary["timing"]
    assert timing["compile_s"] and timing["step_median_s"] > 0
    # no temporary files are left behind
    assert not [f for f in os.listdir(run) if f.startswith(".tmp") or f.endswith(".tmp")]


@pytest.mark.slow
def test_resume_continues_exactly(full_run, tmp_path):
    out, reference, _ = full_run
    first = Trainer(tiny_cfg(tmp_path, "split", max_epochs=1))
    first.train()
    with pytest.raises(ValueError, match="--resume"):
        Trainer(tiny_cfg(tmp_path, "split", max_epochs=3))            # never overwrite a run silently
    resumed = Trainer(tiny_cfg(tmp_path, "split", max_epochs=3), resume=True)
    assert resumed.epoch == 1
    resumed.train()
    ref, got = reference.state_arrays(), resumed.state_arrays()
    assert set(ref) == set(got)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    for a, b in zip(reference.history, resumed.history):
        for k in a:
            if k != "wall_s":
                assert a[k] == b[k], (k, a[k], b[k])


def test_resume_with_another_model_is_refused(full_run):
    out, _, _ = full_run
    cfg = tiny_cfg(out, "full", max_epochs=4)
    cfg["model"]["num_features"] = 8
    with pytest.raises(ValueError, match="model section"):
        Trainer(cfg, resume=True)
    with pytest.raises(ValueError, match="no checkpoint"):
        Trainer(tiny_cfg(out, "never_ran"), resume=True)


def test_interrupted_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = str(tmp_path / "last.ckpt")
    save_checkpoint(path, {"w": np.arange(3.0)}, {"epoch": 1})

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": np.zeros(3)}, {"epoch": 2})
    monkeypatch.undo()
    arrays, meta = load_checkpoint(path)
    assert meta["epoch"] == 1 and arrays["w"].tolist() == [0.0, 1.0, 2.0]
    assert os.listdir(tmp_path) == ["last.ckpt"]


def test_bad_input_corrupt_or_foreign_checkpoint(full_run, tmp_path):
    out, _, _ = full_run
    good = os.path.join(str(out), "full", "last.ckpt")
    data = open(good, "rb").read()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    mid = len(flipped) // 2
    flipped[mid:mid + 64] = bytes(64)
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(bytes(flipped))
    text = tmp_path / "text.ckpt"
    text.write_text("hello")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, w=np.ones(2))
    for path in (truncated, corrupt, text):
        with pytest.raises(ValueError, match="corrupt|truncated|not a checkpoint"):
            load_checkpoint(str(path))
    with pytest.raises(ValueError, match="not a NequIP checkpoint"):
        load_checkpoint(str(foreign))
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(str(tmp_path / "missing.ckpt"))
    # the command-line tools report it and exit with status 2
    from applications.nequip.evaluate import main as evaluate_main

    assert evaluate_main(["--checkpoint", str(truncated), "--data", "x.npz"]) == 2


def test_bad_input_config_errors_are_named(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown key 'model.lmax'"):
        load_config({"model": {"lmax": 2}})
    with pytest.raises(ValueError, match="l_max"):
        load_config({"model": {"l_max": -1}})
    with pytest.raises(ValueError, match="all loss weights"):
        load_config({"training": {"energy_weight": 0, "force_weight": 0}})
    with pytest.raises(ValueError, match="lr_scheduler must be 'plateau' or 'cosine', got 'step'"):
        load_config({"training": {"lr_scheduler": "step"}})
    with pytest.raises(ValueError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    assert main(["--config", TINY_YAML, "--set", "training.batchsize=3"]) == 2
    assert "unknown key 'training.batchsize'" in capsys.readouterr().err


def test_bad_input_dataset_errors(tmp_path):
    # a cutoff with no neighbours at all
    cfg = tiny_cfg(tmp_path, "nocut")
    cfg["model"]["r_max"] = 0.5
    with pytest.raises(ValueError, match="no edge"):
        Trainer(cfg)
    # a species the model was not told about
    cfg = tiny_cfg(tmp_path, "species")
    cfg["model"]["species"] = ["H", "O"]
    with pytest.raises(ValueError, match="Cu"):
        Trainer(cfg)
    # missing keys in a dataset file
    bad = tmp_path / "bad.npz"
    np.savez(bad, nuclear_charges=[1, 1], coords=np.zeros((2, 2, 3)), energies=np.zeros(2))
    cfg = tiny_cfg(tmp_path, "keys")
    cfg["data"]["train_file"] = str(bad)
    cfg["data"]["format"] = "rmd17"
    with pytest.raises(ValueError, match="forces"):
        Trainer(cfg)


def test_scheduler_progress_and_ema_schedule():
    s = ReduceLROnPlateau(1.0, factor=0.5, patience=2, min_lr=0.2)
    lrs = [s.step(v) for v in (5, 4, 4, 4, 4, 4, 4, 4, 4)]
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    state = s.state()
    t = ReduceLROnPlateau(9.0)
    t.load(state)
    assert t.step(4) == s.step(4)
    # cosine decay: PyTorch's CosineAnnealingLR(T_max=n, eta_min) at the end of every epoch, then flat
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
    for _ in range(3):
        bar.update(loss=0.5)
    bar.close()
    assert "3/3" in stream.getvalue() and "loss=0.5" in stream.getvalue()
    # NequIP's EMA warm-up
    fake = type("T", (), {"cfg": {"training": {"ema_decay": 0.99}}, "num_updates": 0})()
    assert train_mod.Trainer.ema_decay(fake) == pytest.approx(0.1)
    fake.num_updates = 10 ** 6
    assert train_mod.Trainer.ema_decay(fake) == 0.99
