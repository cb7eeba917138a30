"""NequIP checkpoints: MindSpore's own loader reads them (the evaluation weights under the network's names), writes
are atomic, corrupt or foreign files are refused naming the file and pointing to the run's other checkpoint,
``--resume best`` falls back to it, and checkpoints of the earlier npz format load, resume and convert exactly."""
import os
import shutil

import numpy as np
import pytest

import mindspore as ms

from applications.nequip.checkpoint import (CHECKPOINT_FORMAT, LEGACY_FORMAT, convert_checkpoint, load_checkpoint,
                                            save_checkpoint)
from applications.nequip.training.state import eval_weights
from tests.applications.nequip.conftest import LEGACY_CKPT, needs_model, tiny_cfg

pytestmark = needs_model


def test_save_and_load_round_trip_in_mindspore_format(tmp_path):
    arrays = {"model/a.w": np.arange(6.0).reshape(2, 3), "ema/a.w": np.ones((2, 3)), "model/b": np.zeros(2),
              "train/moment1.a.w": np.full((2, 3), 0.5, np.float32), "train/global_step": np.array([7], np.int32)}
    path = str(tmp_path / "x.ckpt")
    save_checkpoint(path, arrays, {"epoch": 2, "best_val": None})
    raw = ms.load_checkpoint(path)
    assert sorted(raw) == ["a.w", "b", "nequip_meta", "raw/a.w", "train/global_step", "train/moment1.a.w"]
    np.testing.assert_array_equal(raw["a.w"].asnumpy(), arrays["ema/a.w"])      # the weights to evaluate
    got, meta = load_checkpoint(path)
    assert set(got) == set(arrays) and meta["format"] == CHECKPOINT_FORMAT and meta["epoch"] == 2
    for k, v in arrays.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)
        assert got[k].dtype == v.dtype, k
    with pytest.raises(ValueError, match="must start with"):
        save_checkpoint(path, {"w": np.ones(1)}, {})


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = str(tmp_path / "last.ckpt")
    save_checkpoint(path, {"model/w": np.arange(3.0)}, {"epoch": 1})

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ms, "save_checkpoint", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"model/w": np.zeros(3)}, {"epoch": 2})
    monkeypatch.undo()
    arrays, meta = load_checkpoint(path)
    assert meta["epoch"] == 1 and arrays["model/w"].tolist() == [0.0, 1.0, 2.0]
    assert os.listdir(tmp_path) == ["last.ckpt"]


@pytest.mark.slow
def test_mindspore_loads_a_training_checkpoint_into_the_network(trained_run):
    from applications.nequip.config import load_config
    from applications.nequip.model.build import build_network

    trainer, _ = trained_run
    params = ms.load_checkpoint(trainer.best_path)
    arrays, meta = load_checkpoint(trainer.best_path)
    net = build_network(load_config(meta["config"])["model"], meta["stats"], meta["config"]["dtype"])
    not_loaded, _ = ms.load_param_into_net(net, params)
    assert not_loaded == []
    want = eval_weights(arrays)
    for name, p in net.parameters_and_names():
        np.testing.assert_array_equal(p.asnumpy(), want[name], err_msg=name)
    assert any(k.startswith("ema/") for k in arrays) and any(k.startswith("train/moment1") for k in arrays)


def _corrupt_copies(good, folder):
    data = open(good, "rb").read()
    out = {"truncated": data[: len(data) // 2], "text": b"hello", "empty": b""}
    flipped = bytearray(data)
    mid = len(flipped) // 2
    flipped[mid:mid + 64] = bytes(64)
    out["zeroed"] = bytes(flipped)
    paths = {}
    for name, blob in out.items():
        paths[name] = folder / f"{name}.ckpt"
        paths[name].write_bytes(blob)
    return paths


@pytest.mark.slow
def test_bad_input_corrupt_or_foreign_checkpoints_are_refused(trained_run, tmp_path, capsys):
    trainer, _ = trained_run
    for name, path in _corrupt_copies(trainer.last_path, tmp_path).items():
        with pytest.raises(ValueError, match="corrupt|truncated"):
            load_checkpoint(str(path))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, w=np.ones(2))
    with pytest.raises(ValueError, match="not a NequIP checkpoint"):
        load_checkpoint(str(foreign))
    ms.save_checkpoint([{"name": "w", "data": ms.Tensor(np.ones(2, np.float32))}], str(tmp_path / "plain.ckpt"))
    with pytest.raises(ValueError, match="not one of the NequIP application"):
        load_checkpoint(str(tmp_path / "plain.ckpt"))
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(str(tmp_path / "missing.ckpt"))
    # a corrupt last.ckpt of a run points to its best.ckpt; the command line says it on one line, status 2
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(trainer.best_path, run / "best.ckpt")
    (run / "last.ckpt").write_bytes(open(trainer.last_path, "rb").read()[:1000])
    with pytest.raises(ValueError, match=r"best\.ckpt \(continue from it with --resume best\)"):
        load_checkpoint(str(run / "last.ckpt"))
    from applications.nequip.evaluate import main as evaluate_main

    assert evaluate_main(["--checkpoint", str(run / "last.ckpt"), "--data", "x.npz"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corrupt" in err and "best.ckpt" in err


@pytest.mark.slow
def test_resume_best_when_last_is_corrupt(trained_run, tmp_path):
    from applications.nequip.training import Trainer

    trainer, _ = trained_run
    cfg = tiny_cfg(tmp_path, "fallback", max_epochs=5)
    run = tmp_path / "fallback"
    run.mkdir()
    shutil.copy(trainer.best_path, run / "best.ckpt")
    (run / "last.ckpt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="--resume best"):
        Trainer(cfg, resume=True, log=lambda line: None)
    resumed = Trainer(cfg, resume="best", log=lambda line: None)
    assert resumed.epoch == trainer.best_epoch
    best = load_checkpoint(trainer.best_path)[0]
    got = resumed.state_arrays()
    for k in best:
        np.testing.assert_array_equal(got[k], best[k], err_msg=k)


def test_legacy_npz_checkpoint_loads_converts_and_resumes(tmp_path, capsys):
    from applications.nequip.checkpoint import main as convert_main
    from applications.nequip.inference import Predictor
    from applications.nequip.training import Trainer

    legacy, legacy_meta = load_checkpoint(LEGACY_CKPT)
    assert legacy_meta["format"] == LEGACY_FORMAT
    out = tmp_path / "converted.ckpt"
    assert convert_main([LEGACY_CKPT, str(out)]) == 0
    assert "mindchemistry_e3.nequip/2" in capsys.readouterr().out
    converted, meta = load_checkpoint(str(out))
    assert meta["format"] == CHECKPOINT_FORMAT and meta["converted_from"] == LEGACY_FORMAT
    assert meta["epoch"] == legacy_meta["epoch"] and meta["history"] == legacy_meta["history"]
    # the weights to evaluate are bit for bit the same, and MindSpore reads them
    want, got = eval_weights(legacy), eval_weights(converted)
    assert set(want) == set(got)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    raw = ms.load_checkpoint(str(out))
    for k in want:
        np.testing.assert_array_equal(raw[k].asnumpy(), want[k], err_msg=k)
    # the predictor of either file has the same weights
    a, b = Predictor.from_checkpoint(LEGACY_CKPT), Predictor.from_checkpoint(str(out))
    for (_, p), (_, q) in zip(a.net.parameters_and_names(), b.net.parameters_and_names()):
        np.testing.assert_array_equal(p.asnumpy(), q.asnumpy())
    # a training run resumes from the legacy file and from the converted one with the same state
    states = []
    for name, src in (("legacy", LEGACY_CKPT), ("converted", str(out))):
        run = tmp_path / name
        run.mkdir()
        shutil.copy(src, run / "last.ckpt")
        cfg = tiny_cfg(tmp_path, name, max_epochs=4)
        cfg["model"] = legacy_meta["config"]["model"]
        t = Trainer(cfg, resume=True, log=lambda line: None)
        assert t.epoch == legacy_meta["epoch"]
        states.append(t.state_arrays())
    assert set(states[0]) == set(states[1])
    for k in states[0]:
        np.testing.assert_array_equal(states[0][k], states[1][k], err_msg=k)
    for k, v in states[0].items():
        if k.startswith(("model/", "ema/")):
            np.testing.assert_array_equal(v, legacy[k], err_msg=k)
    # weights only: smaller, loads for inference, refused by --resume
    small = tmp_path / "weights.ckpt"
    convert_checkpoint(LEGACY_CKPT, str(small), weights_only=True)
    assert os.path.getsize(small) < os.path.getsize(out)
    assert not [k for k in load_checkpoint(str(small))[0] if k.startswith("train/")]
    run = tmp_path / "w"
    run.mkdir()
    shutil.copy(small, run / "last.ckpt")
    cfg = tiny_cfg(tmp_path, "w")
    cfg["model"] = legacy_meta["config"]["model"]
    with pytest.raises(ValueError, match="weights only"):
        Trainer(cfg, resume=True)
    # the command refuses to overwrite
    assert convert_main([LEGACY_CKPT, str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert convert_main([str(out), str(out)]) == 2
