"""Generate the default NequIP dataset: aspirin, GFN2-xTB energies and forces from Langevin MD at 500 K.

Recipe (every number is a command-line option; the defaults made the shipped files):

1. Start geometry: RDKit, SMILES ``CC(=O)Oc1ccccc1C(=O)O`` with hydrogens, ``EmbedMolecule`` (ETKDG, seed
   ``--embed-seed``) then ``MMFFOptimizeMolecule``.
2. Energies and forces: GFN2-xTB from ``tblite`` through its ASE calculator (``tblite.ase.TBLite``).
3. Dynamics: ASE ``Langevin``, 500 K, time step 0.5 fs, friction 0.01 / fs, centre of mass fixed
   (``FixCom``); initial velocities from a Maxwell-Boltzmann distribution at 500 K (centre-of-mass motion
   and rotation removed); every random number comes from ``numpy.random.default_rng(seed)``.
4. Sampling: ``--equil`` steps are discarded, then one frame every ``--stride`` steps.
5. Two independent trajectories: train/val (``--seed``, ``--n-train`` frames) and test (``--test-seed``,
   ``--n-test`` frames), each from its own RDKit embedding (seeds ``--embed-seed`` and ``--embed-seed + 1``).

Output: compressed npz in the rMD17 layout (``nuclear_charges`` int64 [N], ``coords`` float64 [F, N, 3] in Å,
``energies`` float64 [F] in kcal/mol, ``forces`` float64 [F, N, 3] in kcal/mol/Å), one file per trajectory.

Run from the repository root (about 4.5 minutes of CPU on one core; 8.5 minutes wall on a busy machine)::

    OMP_NUM_THREADS=1 python -m applications.nequip.tools.make_aspirin_xtb --out applications/nequip/datasets
"""
import argparse
import hashlib
import os
import time

import numpy as np

ASPIRIN_SMILES = "CC(=O)Oc1ccccc1C(=O)O"
#: 1 kcal/mol in eV (ase.units.kcal / ase.units.mol), written out so the files' unit is fixed here.
KCAL_PER_MOL_IN_EV = 0.04336410390059322


def rdkit_geometry(smiles, seed):
    """Return (atomic numbers, positions in Å) of an MMFF-optimised RDKit conformer."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    if AllChem.EmbedMolecule(mol, randomSeed=int(seed)) != 0:
        raise RuntimeError(f"RDKit could not embed {smiles} with seed {seed}")
    AllChem.MMFFOptimizeMolecule(mol)
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    return numbers, np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)


def run_trajectory(numbers, positions, seed, n_frames, equil, stride, temperature_k=500.0, dt_fs=0.5,
                   friction_per_fs=0.01, log_every=1000):
    """Langevin MD with GFN2-xTB; returns coords [F, N, 3] Å, energies [F] eV, forces [F, N, 3] eV/Å."""
    import warnings

    from ase import Atoms, units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
    from tblite.ase import TBLite

    rng = np.random.default_rng(seed)
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    with warnings.catch_warnings():  # renamed thermalize_momenta in new ASE; same maths
        warnings.simplefilter("ignore", DeprecationWarning)
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    atoms.set_constraint(FixCom())  # ASE's recommended way to keep the centre of mass fixed under Langevin
    dyn = Langevin(atoms, dt_fs * units.fs, temperature_K=temperature_k, friction=friction_per_fs / units.fs,
                   fixcm=False, rng=rng)
    coords, energies, forces = [], [], []
    t0 = time.time()
    total = equil + n_frames * stride
    for step in range(1, total + 1):
        dyn.run(1)
        if step > equil and (step - equil) % stride == 0:
            coords.append(atoms.get_positions().copy())
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces(apply_constraint=False).copy())
        if step % log_every == 0:
            temp = atoms.get_temperature()
            print(f"  seed {seed}: step {step}/{total}  T={temp:.0f} K  frames={len(coords)}  "
                  f"{time.time() - t0:.0f} s", flush=True)
    return np.array(coords), np.array(energies), np.array(forces)


def save_rmd17(path, numbers, coords, energies_ev, forces_ev):
    """Write an rMD17-layout compressed npz (kcal/mol, Å) and return its SHA-256."""
    np.savez_compressed(path, nuclear_charges=numbers.astype(np.int64), coords=coords.astype(np.float64),
                        energies=(energies_ev / KCAL_PER_MOL_IN_EV).astype(np.float64),
                        forces=(forces_ev / KCAL_PER_MOL_IN_EV).astype(np.float64))
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "datasets"))
    p.add_argument("--embed-seed", type=int, default=42)
    p.add_argument("--seed", type=int, default=2024, help="MD seed of the train/val trajectory")
    p.add_argument("--test-seed", type=int, default=7, help="MD seed of the independent test trajectory")
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--equil", type=int, default=2000, help="discarded steps (1 ps at 0.5 fs)")
    p.add_argument("--stride", type=int, default=10)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    jobs = [("aspirin_xtb_trainval.npz", args.embed_seed, args.seed, args.n_train),
            ("aspirin_xtb_test.npz", args.embed_seed + 1, args.test_seed, args.n_test)]
    for name, embed_seed, seed, n in jobs:
        t0 = time.time()
        numbers, pos = rdkit_geometry(ASPIRIN_SMILES, embed_seed)
        coords, e, f = run_trajectory(numbers, pos, seed, n, args.equil, args.stride)
        path = os.path.join(args.out, name)
        sha = save_rmd17(path, numbers, coords, e, f)
        print(f"{name}: {len(e)} frames, {time.time() - t0:.0f} s, {os.path.getsize(path)} bytes, sha256 {sha}",
              flush=True)


if __name__ == "__main__":
    main()
