"""Molecular dynamics driver (applications/nequip/md.py): NVE conserves energy, the files and the summary agree
with each other, the run is reproducible from its seed, the Langevin thermostat holds its temperature, the bond
monitor flags broken bonds, and bad input gives clear errors."""
import csv
import json

import numpy as np
import pytest

ase = pytest.importorskip("ase")
from ase.build import bulk, molecule  # noqa: E402
from ase.io import read, write  # noqa: E402
from ase.units import kB  # noqa: E402

from applications.nequip.inference import Predictor  # noqa: E402
from applications.nequip.md import (BondMonitor, bonded_pairs, load_structure, main,  # noqa: E402
                                    nve_energy_statistics, run_md)
from tests.applications.nequip.conftest import TINY, needs_model, tiny_frames  # noqa: E402

ASPIRIN = "applications/nequip/datasets/aspirin_xtb_test.npz"


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    return Predictor.from_checkpoint(tiny_checkpoint, batch_size=1)


@pytest.fixture(scope="module")
def short_run(predictor, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("md")
    summary = run_md(tiny_checkpoint, TINY, frame=3, temperature=300, time_fs=20, dt=1.0, friction=0.02,
                     nve_time_fs=60, seed=1, out=str(out), write_every=5, predictor=predictor)
    return summary, out


@needs_model
def test_nve_conserves_energy_and_files_agree(short_run):
    s, out = short_run
    assert (s["langevin_steps"], s["nve_steps"], s["steps"], s["n_atoms"]) == (20, 60, 80, 8)
    with open(out / "md_log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["phase"] for r in rows] == ["langevin"] * 21 + ["nve"] * 61      # start state + one row per step
    t = np.array([float(r["time_fs"]) for r in rows])
    np.testing.assert_allclose(t[:21], np.arange(21.0))
    np.testing.assert_allclose(t[21:], 20 + np.arange(61.0))
    epot, ekin, etot, temp = (np.array([float(r[k]) for r in rows]) for k in ("epot", "ekin", "etot", "temperature"))
    np.testing.assert_allclose(etot, epot + ekin, rtol=0, atol=1e-9)
    np.testing.assert_allclose(temp, 2 * ekin / ((3 * 8 - 3) * kB), rtol=1e-4)    # centre of mass fixed
    # NVE: the atoms really move (potential and kinetic energy exchange) while the total stays put
    nve = slice(21, None)
    assert np.ptp(epot[nve]) > 0.02
    assert np.std(etot[nve]) < 0.02 * np.std(ekin[nve])
    # the thermostat does change the total energy (so the NVE check above is not trivially true)
    assert np.ptp(etot[:21]) > 10 * np.ptp(etot[nve])
    stats = nve_energy_statistics(t[nve], etot[nve], ekin[nve], 8)
    for key, value in stats.items():
        np.testing.assert_allclose(s[key], value, rtol=1e-9)
    assert abs(s["nve_drift_meV_atom_ps"]) < 1.0
    # the summary file holds the same figures, all present and finite
    saved = json.loads((out / "md_summary.json").read_text())
    for key in ("steps", "wall_s", "ms_per_step", "ms_per_step_median", "max_step_ms", "first_call_s",
                "langevin_T_mean_K", "langevin_T_std_K", "nve_drift_meV_atom_ps", "nve_etot_std_meV_atom",
                "nve_ekin_std_meV_atom", "max_force_eV_A", "max_bond_stretch", "min_distance_A"):
        assert np.isfinite(saved[key]) and saved[key] == s[key], key
    np.testing.assert_allclose(s["langevin_T_mean_K"], temp[10:21].mean(), rtol=1e-6)     # csv: 4 decimals
    assert s["bonds"] == 48 and s["broken_bonds"] == 0 and s["stable"] is True and s["finite"] is True
    # trajectories: every 5th step with the logged energy and forces
    lang, nvet = read(str(out / "langevin.extxyz"), ":"), read(str(out / "nve.extxyz"), ":")
    assert len(lang) == 5 and len(nvet) == 13
    np.testing.assert_allclose([a.get_potential_energy() for a in nvet], epot[21::5], rtol=1e-9)
    np.testing.assert_allclose([a.info["time_fs"] for a in lang], t[:21:5])
    fmax = max(np.linalg.norm(a.get_forces(), axis=1).max() for a in lang + nvet)
    assert fmax <= s["max_force_eV_A"] * (1 + 1e-6)
    assert np.abs(nvet[-1].positions - lang[0].positions).max() > 0.01


@needs_model
def test_run_is_reproducible_from_its_seed(short_run, predictor):
    s, _ = short_run
    start = tiny_frames()[3]
    again = run_md(atoms=load_structure(TINY, 3), temperature=300, time_fs=5, dt=1.0, friction=0.02,
                   nve_time_fs=0, seed=1, predictor=predictor)
    np.testing.assert_allclose([r[4] for r in again["log"]], [r[4] for r in s["log"][:6]], rtol=0, atol=1e-9)
    other = run_md(atoms=load_structure(TINY, 3), temperature=300, time_fs=5, dt=1.0, friction=0.02,
                   nve_time_fs=0, seed=2, predictor=predictor)
    assert abs(other["log"][5][4] - again["log"][5][4]) > 1e-6
    assert np.isnan(again["nve_drift_meV_atom_ps"]) and again["nve_steps"] == 0
    np.testing.assert_allclose(load_structure(TINY, 3).positions, start.pos)


@pytest.mark.slow
@needs_model
def test_langevin_holds_its_temperature(predictor):
    """600 K from a structure whose velocities start at 600 K: without the thermostat the kinetic energy would
    share with the potential (about half of it); with strong friction the mean stays near the target."""
    s = run_md(atoms=load_structure(TINY, 0), temperature=600, time_fs=400, dt=2.0, friction=0.05,
               nve_time_fs=0, seed=0, predictor=predictor)
    assert abs(s["langevin_T_mean_K"] - 600) < 0.2 * 600, s["langevin_T_mean_K"]
    assert s["stable"]


def test_bonds_of_a_molecule_and_a_crystal():
    i, j, shift, d0 = bonded_pairs(molecule("CH4"))
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (0, 3), (0, 4)]      # no H-H bonds
    np.testing.assert_allclose(d0, 1.087, atol=0.01)
    i, j, shift, d0 = bonded_pairs(bulk("Cu", "fcc", a=3.6))                            # 12 neighbours / 2
    assert len(d0) == 6 and (i == 0).all() and (j == 0).all()
    np.testing.assert_allclose(d0, 3.6 / np.sqrt(2))
    atoms = molecule("H2O")
    mon = BondMonitor(atoms)
    atoms.positions[1] = atoms.positions[0] + 1.45 * (atoms.positions[1] - atoms.positions[0])
    mon.update(atoms)
    assert mon.report()["broken_bonds"] == 0
    np.testing.assert_allclose(mon.report()["max_bond_stretch"], 1.45)
    atoms.positions[2] = atoms.positions[0] + 1.6 * (atoms.positions[2] - atoms.positions[0])
    mon.update(atoms)
    rep = mon.report()
    assert rep["broken_bonds"] == 1 and rep["broken"][0].startswith("O0-H2")


def test_nve_energy_statistics():
    t = np.linspace(0, 500, 101)
    ekin = 0.3 + 0.1 * np.sin(t / 20)
    s = nve_energy_statistics(t, -5.0 + 2e-3 * t / 1000 + 0 * ekin, ekin, n_atoms=4)   # 2 meV/ps over 4 atoms
    np.testing.assert_allclose(s["nve_drift_meV_atom_ps"], 0.5)
    np.testing.assert_allclose(s["nve_etot_max_dev_meV_atom"], 0.25)
    np.testing.assert_allclose(s["nve_ekin_std_meV_atom"], 1000 * np.std(ekin) / 4)


def test_load_structure_dataset_and_ase_files(tmp_path):
    atoms = load_structure(ASPIRIN, 0)
    assert atoms.get_chemical_formula() == "C9H8O4" and not atoms.pbc.any()
    cu = load_structure(TINY, -1)
    f = tiny_frames()[-1]
    np.testing.assert_allclose(cu.positions, f.pos)
    np.testing.assert_allclose(cu.cell.array, f.cell)
    write(str(tmp_path / "cu.traj"), cu)
    np.testing.assert_allclose(load_structure(tmp_path / "cu.traj").positions, f.pos)
    with pytest.raises(FileNotFoundError, match="nothere.xyz"):
        load_structure(tmp_path / "nothere.xyz")
    with pytest.raises(ValueError, match="40 frames, no frame 40"):
        load_structure(TINY, 40)
    (tmp_path / "junk.foo").write_text("not a structure")
    with pytest.raises(ValueError, match="junk.foo"):
        load_structure(tmp_path / "junk.foo")


@needs_model
def test_bad_input(predictor, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"\['C', 'H', 'O'\].*\['Cu'\]"):
        run_md(structure=ASPIRIN, predictor=predictor, time_fs=1, nve_time_fs=1)
    with pytest.raises(ValueError, match="dt \\(fs\\) must be a number > 0, got 0"):
        run_md(structure=TINY, predictor=predictor, dt=0)
    with pytest.raises(ValueError, match="temperature \\(K\\) must be a number >= 0, got -5"):
        run_md(structure=TINY, predictor=predictor, temperature=-5)
    assert main(["--checkpoint", str(tmp_path / "missing.ckpt"), "--structure", TINY, "--out",
                 str(tmp_path / "o")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["--checkpoint", str(tmp_path / "missing.ckpt"), "--structure", str(tmp_path / "no.npz"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "structure file not found" in capsys.readouterr().err


@pytest.mark.slow
@needs_model
def test_cli_run(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "md"
    assert main(["--checkpoint", tiny_checkpoint, "--structure", TINY, "--time-fs", "4", "--dt", "1",
                 "--nve-time-fs", "4", "--write-every", "2", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "NVE drift" in text and "stable: True" in text
    s = json.loads((out / "md_summary.json").read_text())
    assert s["steps"] == 8 and s["checkpoint"] == tiny_checkpoint
    assert len(read(str(out / "nve.extxyz"), ":")) == 3
