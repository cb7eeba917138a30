"""Our rMD17-layout aspirin files (kcal/mol, Å) -> npz files in eV and eV/Å with the keys of aspirin_small.yaml."""
import os

import numpy as np

KCAL_MOL = 0.04336410390059322  # eV (ASE's units.kcal / units.mol)
DATASETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "applications", "nequip", "datasets")

for name in ("trainval", "test"):
    d = np.load(os.path.join(DATASETS, f"aspirin_xtb_{name}.npz"))
    np.savez(f"aspirin_xtb_{name}_eV.npz", z=d["nuclear_charges"].astype(np.int64), R=d["coords"],
             E=d["energies"] * KCAL_MOL, F=d["forces"] * KCAL_MOL)
