"""ASE calculator, evaluate and predict: they agree with each other, NVE dynamics conserves energy, and bad
input (unknown species, non-periodic stress, bad checkpoint) gives clear errors."""
import json

import numpy as np
import pytest

ase = pytest.importorskip("ase")
from ase import Atoms, units  # noqa: E402
from ase.calculators.calculator import PropertyNotImplementedError  # noqa: E402
from ase.io import read  # noqa: E402
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: E402
from ase.md.verlet import VelocityVerlet  # noqa: E402

from applications.nequip.calculator import NequIPCalculator  # noqa: E402
from applications.nequip.evaluate import main as evaluate_main  # noqa: E402
from applications.nequip.inference import Predictor  # noqa: E402
from applications.nequip.predict import main as predict_main  # noqa: E402
from tests.applications.nequip.conftest import TINY, needs_model, tiny_frames, write_checkpoint  # noqa: E402


pytestmark = needs_model

@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    return Predictor.from_checkpoint(tiny_checkpoint, batch_size=1)


def to_atoms(frame):
    return Atoms(numbers=frame.atomic_numbers, positions=frame.pos, cell=frame.cell, pbc=frame.pbc)


@pytest.mark.slow
def test_calculator_agrees_with_predict_and_evaluate(tiny_checkpoint, predictor, tmp_path, capsys):
    out = tmp_path / "pred.extxyz"
    assert predict_main(["--checkpoint", tiny_checkpoint, "--data", TINY, "--out", str(out)]) == 0
    images = read(str(out), ":")
    assert len(images) == 40
    calc = NequIPCalculator(predictor=predictor)
    for k in (0, 17, 39):
        atoms = images[k].copy()
        atoms.calc = calc
        np.testing.assert_allclose(atoms.get_potential_energy(), images[k].get_potential_energy(), rtol=1e-6)
        np.testing.assert_allclose(atoms.get_forces(), images[k].get_forces(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(atoms.get_stress(), images[k].get_stress(), rtol=1e-4, atol=1e-6)
    # the file keeps the reference labels next to the predictions ...
    frames = tiny_frames()
    np.testing.assert_allclose([im.info["ref_energy"] for im in images], [f.energy for f in frames])
    e_err = np.array([im.get_potential_energy() - im.info["ref_energy"] for im in images])
    f_err = np.concatenate([(im.get_forces() - im.arrays["ref_forces"]).ravel() for im in images])
    # ... and evaluate reports the errors of exactly these predictions
    report = tmp_path / "eval.json"
    assert evaluate_main(["--checkpoint", tiny_checkpoint, "--data", TINY, "--json", str(report)]) == 0
    text = capsys.readouterr().out
    assert "forces (meV/Å)" in text and "energy (meV)" in text and "MAE" in text and "RMSE" in text
    res = json.loads(report.read_text())
    np.testing.assert_allclose(res["energy_mae_meV"], 1000 * np.abs(e_err).mean(), rtol=1e-5)
    np.testing.assert_allclose(res["energy_rmse_meV"], 1000 * np.sqrt((e_err ** 2).mean()), rtol=1e-5)
    np.testing.assert_allclose(res["force_mae_meV_A"], 1000 * np.abs(f_err).mean(), rtol=1e-5)
    np.testing.assert_allclose(res["force_rmse_meV_A"], 1000 * np.sqrt((f_err ** 2).mean()), rtol=1e-5)
    assert res["frames"] == 40 and "stress_mae_meV_A3" in res


def test_nve_md_conserves_energy(predictor):
    atoms = to_atoms(tiny_frames(1)[0])
    atoms.calc = NequIPCalculator(predictor=predictor)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    etot, epot = [], []
    for _ in range(40):
        dyn.run(1)
        epot.append(atoms.get_potential_energy())
        etot.append(epot[-1] + atoms.get_kinetic_energy())
    etot, epot = np.array(etot), np.array(epot)
    assert np.ptp(epot) > 1e-3                      # the atoms really move on the potential
    assert np.ptp(etot) < 0.02 * np.ptp(epot)       # while the total energy stays put
    assert abs(etot[-1] - etot[0]) < 1e-3


@pytest.mark.slow
def test_molecule_has_no_stress_and_unknown_species_is_named(tmp_path):
    rng = np.random.default_rng(0)
    z = np.array([8, 1, 1, 6, 1])
    path = tmp_path / "mol.npz"
    np.savez(path, nuclear_charges=z, coords=rng.normal(size=(3, 5, 3)) * 0.8, energies=rng.normal(size=3),
             forces=rng.normal(size=(3, 5, 3)))
    ckpt = write_checkpoint(tmp_path / "mol.ckpt", train_file=str(path))
    calc = NequIPCalculator(ckpt)
    atoms = Atoms(numbers=z, positions=rng.normal(size=(5, 3)) * 0.8)
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy()) and atoms.get_forces().shape == (5, 3)
    np.testing.assert_allclose(atoms.get_forces().sum(0), 0, atol=1e-4)     # no net force on a molecule
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()
    bad = Atoms(numbers=[8, 1, 9], positions=[[0, 0, 0], [0, 0, 1], [0, 1, 0]])
    bad.calc = calc
    with pytest.raises(ValueError, match=r"\['F'\]"):
        bad.get_potential_energy()


def test_bad_input_calculator_checkpoint(tmp_path):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="corrupt|truncated|not a checkpoint"):
        NequIPCalculator(str(broken))
    with pytest.raises(ValueError, match="checkpoint"):
        NequIPCalculator()
