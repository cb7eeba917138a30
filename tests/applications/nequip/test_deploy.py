"""MindIR deployment: ``deploy`` exports the buckets a dataset needs (or the ones named), ``evaluate`` / ``predict`` /
``md`` / the ASE calculator take the export and give the checkpoint's numbers (float32, <= 5e-6 relative), and a
structure that fits no exported bucket is refused with the command that adds one."""
import os

import numpy as np
import pytest

ase = pytest.importorskip("ase")
import mindspore as ms  # noqa: E402

from applications.nequip import cli  # noqa: E402
from applications.nequip.deploy import dataset_buckets, parse_bucket  # noqa: E402
from applications.nequip.inference import Predictor, read_export_meta  # noqa: E402
from mindchemistry_e3.util import native_kernels  # noqa: E402
from tests.applications.nequip.conftest import TINY, needs_model, strict_json, tiny_frames  # noqa: E402

pytestmark = needs_model


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    """The tiny trained run's best checkpoint exported for the tiny set, one structure per batch (with stress),
    and the checkpoint's own predictor for the same batches -- built, as ``deploy`` builds the exported graphs,
    without the native CPU kernels (which agree with the plain ops to float32 rounding, ~1e-6 relative, not
    bit for bit; tests/o3/test_*_cpu.py compare them)."""
    trainer, _ = trained_run
    out = tmp_path_factory.mktemp("export") / "tiny1"
    assert cli.main(["deploy", "--checkpoint", trainer.best_path, "--out", str(out), "--data", TINY,
                     "--batch-size", "1"]) == 0
    with native_kernels(False):
        return trainer, str(out), Predictor.from_checkpoint(trainer.best_path, batch_size=1)


def _close(a, b, what):
    """Within a few float32 roundings of sums of ~100 terms (the MindIR runs the graph MindSpore loads, not the one it
    compiled in this process: measured up to 1.2e-6 of the largest force)."""
    scale = np.abs(a).max() + 1e-30
    assert np.abs(a - b).max() <= 5e-6 * scale, (what, np.abs(a - b).max(), scale)


@pytest.mark.slow
def test_deploy_then_evaluate_gives_the_checkpoint_numbers(exported, tmp_path):
    trainer, out, checkpoint_predictor = exported
    meta, folder = read_export_meta(out)
    assert meta["stress"] and meta["batch_size"] == 1 and meta["outputs"] == ["energy", "forces", "stress"]
    assert strict_json(os.path.join(out, "model.json")) == meta
    assert [(b["atoms"], b["edges"]) for b in meta["buckets"]] == dataset_buckets(tiny_frames(), 4.0, 1)
    # per structure: energies, forces and stresses of the MindIR graphs equal the checkpoint's
    frames = tiny_frames()
    want = checkpoint_predictor.predict(frames)
    got = Predictor.from_exported(out).predict(frames)
    _close(np.array([w["energy"] for w in want]), np.array([g["energy"] for g in got]), "energy")
    _close(np.concatenate([w["forces"] for w in want]), np.concatenate([g["forces"] for g in got]), "forces")
    _close(np.stack([w["stress"] for w in want]), np.stack([g["stress"] for g in got]), "stress")
    # evaluate: the command on the export, the same function on the checkpoint's predictor
    from applications.nequip.evaluate import evaluate

    b = tmp_path / "mindir.json"
    assert cli.main(["evaluate", "--model", out, "--data", TINY, "--json", str(b)]) == 0
    ra, rb = evaluate(data=TINY, predictor=checkpoint_predictor), strict_json(b)
    assert set(ra) == set(rb)
    for k in ra:
        assert rb[k] == pytest.approx(ra[k], rel=1e-6), k
    # predict with the export writes the same file contents as with the checkpoint
    assert cli.main(["predict", "--model", out, "--data", TINY, "--out", str(tmp_path / "p.extxyz")]) == 0
    from ase.io import read

    images = read(str(tmp_path / "p.extxyz"), ":")
    np.testing.assert_allclose([im.get_potential_energy() for im in images], [w["energy"] for w in want],
                               rtol=1e-6)
    np.testing.assert_allclose(images[3].info["ref_stress"], frames[3].stress, rtol=1e-12)   # the labels kept


@pytest.mark.slow
def test_exported_file_runs_with_plain_mindspore(exported):
    """``mindspore.load`` + ``nn.GraphCell`` run the file with the inputs model.json names (no application code
    in the graph call), and the file names no native kernel of this machine (o3's fused spherical harmonics)."""
    from mindspore import nn

    from applications.nequip.data import TypeMapper, build_neighbors, collate
    from applications.nequip.model import batch_inputs

    _, out, _ = exported
    meta, folder = read_export_meta(out)
    bucket = meta["buckets"][0]
    frames = build_neighbors(tiny_frames(1), meta["r_max"])
    batch = collate(frames, TypeMapper(meta["species"]), n_pad=bucket["atoms"], e_pad=bucket["edges"],
                    num_graphs=meta["batch_size"])
    inputs = batch_inputs(batch, ms.float32, labels=False)
    assert list(inputs._fields) == meta["inputs"]
    with open(os.path.join(folder, bucket["file"]), "rb") as f:
        content = f.read()
    assert b"sh_forward" not in content and b"sh_vjp" not in content
    graph = nn.GraphCell(ms.load(os.path.join(folder, bucket["file"])))
    energy, forces, stress = graph(*inputs)
    assert energy.shape == (2,) and forces.shape == (bucket["atoms"], 3) and stress.shape == (2, 3, 3)
    assert np.isfinite(energy.asnumpy()).all()


@pytest.mark.slow
def test_calculator_and_md_from_an_export_and_the_missing_bucket_message(exported):
    from applications.nequip.calculator import NequIPCalculator
    from applications.nequip.md import run_md

    _, out, checkpoint_predictor = exported
    frames = tiny_frames(2)
    from_export = NequIPCalculator(model=out)
    reference = NequIPCalculator(predictor=checkpoint_predictor)
    for frame in frames:
        atoms = frame.to_ase()
        atoms.calc = reference
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = from_export
        assert atoms.get_potential_energy() == pytest.approx(e, rel=1e-6)
        _close(f, atoms.get_forces(), "forces")
        _close(s, atoms.get_stress(), "stress")
    summary = run_md(structure=TINY, frame=1, temperature=300, time_fs=3, dt=1.0, nve_time_fs=3, model=out)
    assert summary["steps"] == 6 and summary["finite"] and summary["model"] == out
    # a structure larger than every exported bucket: refused, naming the deploy command that adds one
    big = frames[0].to_ase().repeat((2, 2, 2))
    big.calc = from_export
    with pytest.raises(ValueError, match=r"no bucket for 64 atoms.*deploy --checkpoint CKPT .*--batch-size 1 "
                                         r"--bucket 128x"):
        big.get_potential_energy()


def test_bad_input_buckets_and_exports(tmp_path):
    assert parse_bucket("64X512") == (64, 512)
    for text in ("64", "64x", "1x10", "axb"):
        with pytest.raises(ValueError, match="--bucket"):
            parse_bucket(text)
    (tmp_path / "model.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an exported NequIP model"):
        read_export_meta(str(tmp_path))
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable model.json"):
        read_export_meta(str(tmp_path))
    with pytest.raises(ValueError, match="exported model not found"):
        read_export_meta(str(tmp_path / "nothing"))
