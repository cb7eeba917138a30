"""The NequIP command line: every refused input is one ``error:`` line with status 2 and leaves no run folder (a
bad file per case, named with its frame); numbers are checked with one wording on every command; ``--device``
refuses a device this machine lacks; a dataset without forces trains on energies; every JSON output is strict."""
import os

import numpy as np
import pytest

from applications.nequip import cli
from applications.nequip.files import dumps, json_safe
from applications.nequip.train import main as train_main
from tests.applications.nequip.conftest import (TINY, TINY_YAML, needs_model, run_command, set_args, strict_json,
                                                tiny_frames, tiny_overrides)

pytestmark = needs_model


def _tiny_arrays(n=6):
    frames = tiny_frames(n)
    return {"atomic_numbers": frames[0].atomic_numbers, "pos": np.stack([f.pos for f in frames]),
            "cell": np.stack([f.cell for f in frames]), "pbc": np.ones(3, bool),
            "energy": np.array([f.energy for f in frames]), "forces": np.stack([f.forces for f in frames]),
            "stress": np.stack([f.stress for f in frames])}


def _set(key, index, value):
    def edit(a):
        a[key][index] = value
    return edit


def _replace(key, make):
    def edit(a):
        a[key] = make(a)
    return edit


#: case -> (how the tiny set's arrays are spoiled, what the error must say)
ARRAY_CASES = {
    "nan_energy": (_set("energy", 3, np.nan), "frame 3: non-finite values in energy"),
    "inf_forces": (_set("forces", (2, 5, 1), np.inf), "frame 2: non-finite values in forces"),
    "nan_positions": (_set("pos", (4, 0, 0), np.nan), "frame 4: non-finite values in positions"),
    "nan_stress": (_set("stress", (1, 0, 0), np.nan), "frame 1: non-finite values in stress"),
    "nan_cell": (_set("cell", (5, 1, 1), np.nan), "frame 5: non-finite values in cell"),
    "flat_cell": (_set("cell", (0, 2), 0.0), "frame 0: the periodic cell has zero volume"),
    "forces_shape": (_replace("forces", lambda a: a["forces"][:, :5]), "forces must have the shape of pos"),
    "energy_shape": (_replace("energy", lambda a: a["energy"][:4]), "energy must have shape [6]"),
    "no_frames": (lambda a: a.update({k: a[k][:0] for k in ("pos", "energy", "forces", "stress", "cell")}),
                  "no frames"),
}


def _bad_file(tmp_path, case):
    """A dataset file with one defect; returns (path, text the error must contain)."""
    if case == "not_npz":
        path = tmp_path / "not.npz"
        path.write_bytes(b"PK\x03\x04 this is not a zip archive")
        return path, "not a readable npz file"
    if case == "bad_extxyz":
        path = tmp_path / "bad.extxyz"
        path.write_text("2\nProperties=species:S:1:pos:R:3 energy=-1\nH 0 0\n")
        return path, "bad.extxyz"
    if case == "missing":
        return tmp_path / "does_not_exist.npz", "dataset file not found"
    spoil, want = ARRAY_CASES[case]
    arrays = _tiny_arrays()
    spoil(arrays)
    path = tmp_path / f"{case}.npz"
    np.savez(path, **arrays)
    return path, want


CASES = tuple(ARRAY_CASES) + ("not_npz", "bad_extxyz", "missing")


@pytest.mark.parametrize("case", CASES)
def test_bad_dataset_is_one_error_line_and_leaves_no_run_folder(case, tmp_path, capsys, tiny_checkpoint):
    path, want = _bad_file(tmp_path, case)
    out = tmp_path / "out"
    code = train_main(["--config", TINY_YAML, "--set", f"out_dir={out}", "--set", f"data.train_file={path}",
                       "--set", "data.n_train=4", "--set", "data.n_val=1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert want in err and str(path.name) in err, err
    assert not os.path.exists(out)
    # evaluate refuses the same file with the same message
    assert cli.main(["evaluate", "--checkpoint", tiny_checkpoint, "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and want in err, err


def test_bad_units_and_test_file_are_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "out"
    assert train_main(["--config", TINY_YAML, "--set", f"out_dir={out}", "--set", "data.energy_unit=kcal"]) == 2
    assert "unknown energy unit 'kcal'" in capsys.readouterr().err
    bad, _ = _bad_file(tmp_path, "nan_energy")
    assert train_main(["--config", TINY_YAML, "--set", f"out_dir={out}", "--set", f"data.test_file={bad}"]) == 2
    assert "frame 3" in capsys.readouterr().err
    assert not os.path.exists(out)


NUMERIC = [
    (["md", "--checkpoint", "c", "--structure", "s", "--out", "o", "--temperature", "-5"],
     "argument --temperature: must be a number >= 0, got -5"),
    (["md", "--checkpoint", "c", "--structure", "s", "--out", "o", "--dt", "0"],
     "argument --dt: must be a number > 0, got 0"),
    (["md", "--checkpoint", "c", "--structure", "s", "--out", "o", "--write-every", "1.5"],
     "argument --write-every: must be an integer >= 1, got 1.5"),
    (["md", "--checkpoint", "c", "--structure", "s", "--out", "o", "--friction", "nan"],
     "argument --friction: must be a number >= 0, got nan"),
    (["evaluate", "--checkpoint", "c", "--data", "d", "--batch-size", "0"],
     "argument --batch-size: must be an integer >= 1, got 0"),
    (["predict", "--checkpoint", "c", "--data", "d", "--out", "o", "--batch-size", "x"],
     "argument --batch-size: must be an integer >= 1, got x"),
    (["train", "--config", "c", "--threads", "0"], "argument --threads: must be an integer >= 1, got 0"),
    (["benchmark", "--config", "c", "--steps", "1"], "argument --steps: must be an integer >= 2, got 1"),
    (["deploy", "--checkpoint", "c", "--out", "o", "--batch-size", "-1"],
     "argument --batch-size: must be an integer >= 1, got -1"),
    (["evaluate", "--checkpoint", "c", "--data", "d", "--device", "TPU"],
     "argument --device: must be one of CPU, Ascend, GPU, got 'TPU'"),
]


@pytest.mark.parametrize("argv,want", NUMERIC)
def test_numeric_options_are_checked_with_one_wording(argv, want, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {want}"), err


def test_device_not_on_this_machine_is_refused(capsys):
    import mindspore as ms

    if ms.hal.is_available("Ascend"):
        pytest.skip("this machine has an Ascend device")
    assert cli.main(["evaluate", "--checkpoint", "c", "--data", "d", "--device", "Ascend"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device Ascend is not available" in err and "CPU" in err


def test_dispatcher_and_other_refusals(tmp_path, capsys):
    assert cli.main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    assert cli.main([]) == 2
    assert cli.main(["deploy", "--checkpoint", "c", "--out", "o", "--bucket", "3"]) == 2
    assert "--bucket must be ATOMSxEDGES (e.g. 64x1024), got '3'" in capsys.readouterr().err
    assert cli.main(["deploy", "--checkpoint", "c", "--out", "o"]) == 2
    assert "no buckets to export" in capsys.readouterr().err
    assert cli.main(["evaluate", "--model", str(tmp_path), "--data", TINY]) == 2
    assert "exported model not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--checkpoint", "a", "--model", "b", "--data", "d"])
    assert "not allowed with" in capsys.readouterr().err


def test_registry_is_the_implementations_table():
    from applications.nequip.data.readers import READERS
    from applications.nequip.model.interaction import ACTIVATIONS
    from applications.nequip.registry import activation_names, reader_names

    assert set(activation_names()) == set(ACTIVATIONS)
    assert set(reader_names()) == {"auto"} | set(READERS)


def test_json_outputs_are_strict():
    obj = {"a": float("nan"), "b": [np.float32(1.5), np.inf], "c": {"d": np.int64(3)}, "e": None}
    assert json_safe(obj) == {"a": None, "b": [1.5, None], "c": {"d": 3}, "e": None}
    assert strict_json(dumps(obj))["a"] is None
    with pytest.raises(ValueError, match="not strict JSON"):
        strict_json('{"x": NaN}')


@pytest.mark.slow
def test_dataset_without_forces_trains_on_energies(tmp_path):
    """An npz without forces: a notice, force_weight 0 in the run's config, no force metrics (null), no parity
    plot, a normal end."""
    from applications.nequip.training import Trainer
    from tests.applications.nequip.conftest import tiny_cfg

    a = _tiny_arrays(12)
    del a["forces"]
    path = tmp_path / "energies.npz"
    np.savez(path, **a)
    cfg = tiny_cfg(tmp_path / "out", "energies", max_epochs=1)
    cfg["data"].update(train_file=str(path), n_val=0)      # no validation set: only the train step compiles
    lines = []
    trainer = Trainer(cfg, log=lines.append)
    summary = trainer.train()
    assert any("notice: the training set" in line and "has no forces" in line for line in lines)
    run = tmp_path / "out" / "energies"
    final = strict_json(run / "final_metrics.json")
    assert final["epochs"] == summary["epochs"] == 1 and "val" not in final
    row = trainer.history[0]
    assert row["train_f_mae_meV_A"] is None and row["val_f_mae_meV_A"] is None and row["train_e_mae_meV"] > 0
    assert "force_weight: 0.0" in (run / "config.yaml").read_text()
    assert ",," in (run / "metrics.csv").read_text().splitlines()[1]           # absent values: empty cells
    assert not (run / "force_parity.png").exists() and (run / "loss_curves.png").exists()


def test_report_of_a_dataset_without_forces_shows_them_as_absent():
    from applications.nequip.evaluate import format_report
    from applications.nequip.training.metrics import in_mev, summarize

    sums = {"e_abs": 2.0, "e_sq": 2.0, "e_pa_abs": 1.0, "e_pa_sq": 0.5, "n_e": 2.0, "f_abs": 0.0, "f_sq": 0.0,
            "n_f": 0.0, "s_abs": 0.0, "s_sq": 0.0, "n_s": 0.0}
    res = summarize(sums)
    out = {"frames": 2, "atoms": 4, "energy_mae_meV": in_mev(res["e_mae"]), "energy_rmse_meV": in_mev(res["e_rmse"]),
           "energy_per_atom_mae_meV": in_mev(res["e_pa_mae"]), "energy_per_atom_rmse_meV": in_mev(res["e_pa_rmse"]),
           "force_mae_meV_A": in_mev(res["f_mae"]), "force_rmse_meV_A": in_mev(res["f_rmse"])}
    text = format_report(out, "m", "d")
    assert text.splitlines()[-1].split()[-2:] == ["-", "-"] and "1000.000" in text
    assert strict_json(dumps(out))["force_mae_meV_A"] is None
