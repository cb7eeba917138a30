"""Dataset readers: rMD17 npz, sGDML npz, our own periodic npz, and extended XYZ (through ASE).

Every reader returns a list of ``AtomicData`` in eV and Å; the unit of the file is an explicit argument
(defaults are the formats' documented units) and the conversion factors are the table ``ENERGY_UNITS`` /
``LENGTH_UNITS`` below (ASE's CODATA-2014 values).

=========  =========================================================  ==================================
format     keys                                                       default units
=========  =========================================================  ==================================
rmd17      nuclear_charges [N], coords [F,N,3], energies [F],          kcal/mol, Å (forces kcal/mol/Å)
           forces [F,N,3]
sgdml      z [N], R [F,N,3], E [F] or [F,1], F [F,N,3]                 the file's ``e_unit``/``r_unit``
                                                                       keys, else kcal/mol and Å
npz        atomic_numbers [N] or [F,N], pos [F,N,3], optional cell     eV, Å (stress eV/Å^3)
           [3,3] or [F,3,3], pbc [3], energy [F], forces [F,N,3],
           stress [F,3,3]
extxyz     ASE's reader: ``energy`` / ``forces`` / ``stress`` from     eV, Å
           the calculator results or ``info``/``arrays`` keys
=========  =========================================================  ==================================
"""
import os

import numpy as np

from .atomic_data import AtomicData

#: energy units in eV
ENERGY_UNITS = {
    "eV": 1.0,
    "meV": 1e-3,
    "kcal/mol": 0.04336410390059322,
    "kJ/mol": 0.010364269574711572,
    "Hartree": 27.211386024367243,
    "Ha": 27.211386024367243,
}
#: length units in Å
LENGTH_UNITS = {"Ang": 1.0, "A": 1.0, "Å": 1.0, "Angstrom": 1.0, "Bohr": 0.5291772105638411, "nm": 10.0}

_KEYS = {
    "rmd17": ("nuclear_charges", "coords", "energies", "forces"),
    "sgdml": ("z", "R", "E", "F"),
    "npz": ("atomic_numbers", "pos"),
}


def _unit(table, name, what):
    if isinstance(name, bytes):
        name = name.decode()
    name = str(name)
    if name not in table:
        raise ValueError(f"unknown {what} unit {name!r}; known: {sorted(table)}")
    return table[name]


def _npz_arrays(path):
    """name -> array of an npz file; ValueError naming the file when it is not a readable npz."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as err:
        raise ValueError(f"{path}: not a readable npz file ({type(err).__name__}: {err})") from None
    except ValueError as err:
        raise ValueError(f"{path}: not a readable npz file ({err})") from None


def _load_npz(path, fmt):
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset file not found: {path}")
    data = _npz_arrays(path)
    missing = [k for k in _KEYS[fmt] if k not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing} for the {fmt} format (found {sorted(data)})")
    return data


def _frames(path, z, pos, energy, forces, e_scale, r_scale, cell=None, pbc=None, stress=None, names=None):
    """Validate shapes of stacked arrays and build AtomicData in eV / Å."""
    kz, kr, ke, kf = names or ("atomic_numbers", "pos", "energy", "forces")
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise ValueError(f"{path}: {kr} must have shape [frames, atoms, 3], got {pos.shape}")
    nf, na = pos.shape[:2]
    z = np.asarray(z)
    if z.shape not in ((na,), (nf, na)):
        raise ValueError(f"{path}: {kz} must have shape [{na}] (atoms of {kr} {pos.shape}), got {z.shape}")
    if energy is not None:
        energy = np.asarray(energy, dtype=np.float64)
        if energy.shape not in ((nf,), (nf, 1)):
            raise ValueError(f"{path}: {ke} must have shape [{nf}] (frames of {kr} {pos.shape}), "
                             f"got {energy.shape}")
        energy = energy.reshape(nf) * e_scale
    if forces is not None:
        forces = np.asarray(forces, dtype=np.float64)
        if forces.shape != pos.shape:
            raise ValueError(f"{path}: {kf} must have the shape of {kr} {pos.shape}, got {forces.shape}")
        forces = forces * (e_scale / r_scale)
    if cell is not None:
        cell = np.asarray(cell, dtype=np.float64) * r_scale
        if cell.shape == (3, 3):
            cell = np.broadcast_to(cell, (nf, 3, 3))
        if cell.shape != (nf, 3, 3):
            raise ValueError(f"{path}: cell must have shape [3, 3] or [{nf}, 3, 3], got {cell.shape}")
    if stress is not None:
        stress = np.asarray(stress, dtype=np.float64) * (e_scale / r_scale ** 3)
        if stress.shape != (nf, 3, 3):
            raise ValueError(f"{path}: stress must have shape [{nf}, 3, 3], got {stress.shape}")
    frames = []
    for i in range(nf):
        try:
            frames.append(AtomicData(
                pos=pos[i] * r_scale, atomic_numbers=z if z.ndim == 1 else z[i],
                cell=None if cell is None else cell[i], pbc=pbc,
                energy=None if energy is None else energy[i],
                forces=None if forces is None else forces[i],
                stress=None if stress is None else stress[i],
                info={"source": os.path.basename(str(path)), "index": i}))
        except ValueError as err:
            raise ValueError(f"{path}, frame {i}: {str(err).replace('AtomicData: ', '')}") from None
    if not frames:
        raise ValueError(f"{path}: no frames")
    return frames


def read_rmd17(path, energy_unit="kcal/mol", length_unit="Ang"):
    """Read an rMD17 npz (``nuclear_charges, coords, energies, forces``; kcal/mol and Å by default).

    Args:
        path (str): the ``.npz`` file.
        energy_unit (str): unit of ``energies`` (forces are in ``energy_unit / length_unit``).
        length_unit (str): unit of ``coords``.

    Returns:
        list[AtomicData] in eV and Å.

    Examples:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "m.npz")
        >>> np.savez(p, nuclear_charges=[1, 1], coords=np.zeros((1, 2, 3)) + [0, 0, 0.7],
        ...          energies=[-1.0], forces=np.zeros((1, 2, 3)))
        >>> round(read_rmd17(p)[0].energy, 6)
        -0.043364
    """
    d = _load_npz(path, "rmd17")
    return _frames(path, d["nuclear_charges"], d["coords"], d["energies"], d["forces"],
                   _unit(ENERGY_UNITS, energy_unit, "energy"), _unit(LENGTH_UNITS, length_unit, "length"),
                   names=_KEYS["rmd17"])


def read_sgdml(path, energy_unit=None, length_unit=None):
    """Read an sGDML npz (``z, R, E, F``); units from the file's ``e_unit`` / ``r_unit`` unless given.

    Args:
        path (str): the ``.npz`` file.
        energy_unit (str, optional): unit of ``E``; default: the file's ``e_unit``, else ``'kcal/mol'``.
        length_unit (str, optional): unit of ``R``; default: the file's ``r_unit``, else ``'Ang'``.

    Returns:
        list[AtomicData] in eV and Å.

    Examples:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "s.npz")
        >>> np.savez(p, z=[1, 1], R=np.zeros((1, 2, 3)) + [0, 0, 0.7], E=[[-1.0]], F=np.zeros((1, 2, 3)),
        ...          e_unit="eV", r_unit="Ang")
        >>> read_sgdml(p)[0].energy
        -1.0
    """
    d = _load_npz(path, "sgdml")
    if energy_unit is None:
        energy_unit = str(d["e_unit"]) if "e_unit" in d else "kcal/mol"
    if length_unit is None:
        length_unit = str(d["r_unit"]) if "r_unit" in d else "Ang"
    return _frames(path, d["z"], d["R"], d["E"], d["F"], _unit(ENERGY_UNITS, energy_unit, "energy"),
                   _unit(LENGTH_UNITS, length_unit, "length"), names=_KEYS["sgdml"])


def read_npz(path, energy_unit="eV", length_unit="Ang"):
    """Read our own npz layout (periodic structures allowed): ``atomic_numbers, pos`` and optional
    ``cell, pbc, energy, forces, stress`` (eV, Å, eV/Å^3 by default).

    Examples:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "c.npz")
        >>> np.savez(p, atomic_numbers=[29], pos=np.zeros((1, 1, 3)), cell=np.eye(3) * 2.5, pbc=[1, 1, 1],
        ...          energy=[-3.5], forces=np.zeros((1, 1, 3)))
        >>> read_npz(p)[0].pbc.tolist()
        [True, True, True]
    """
    d = _load_npz(path, "npz")
    return _frames(path, d["atomic_numbers"], d["pos"], d.get("energy"), d.get("forces"),
                   _unit(ENERGY_UNITS, energy_unit, "energy"), _unit(LENGTH_UNITS, length_unit, "length"),
                   cell=d.get("cell"), pbc=d.get("pbc"), stress=d.get("stress"))


def read_extxyz(path, energy_key="energy", forces_key="forces", stress_key="stress", energy_unit="eV",
                length_unit="Ang", index=":"):
    """Read an extended XYZ file with ASE (``pip install ase``).

    Labels are taken from the calculator results ASE attaches (``energy=... forces`` columns) or from
    ``atoms.info[energy_key]`` / ``atoms.arrays[forces_key]`` / ``atoms.info[stress_key]``.

    Returns:
        list[AtomicData] in eV and Å (the cell and pbc of each frame are kept).

    Examples:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "h2.xyz")
        >>> _ = open(p, "w").write('2\\nProperties=species:S:1:pos:R:3 energy=-1.5 pbc="F F F"\\n'
        ...                        'H 0 0 0\\nH 0 0 0.74\\n')
        >>> read_extxyz(p)[0].energy
        -1.5
    """
    try:
        import ase.io
    except ImportError as err:  # pragma: no cover - ase is in the nequip extra
        raise ImportError("reading extxyz needs ASE: pip install ase") from err
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset file not found: {path}")
    e_scale = _unit(ENERGY_UNITS, energy_unit, "energy")
    r_scale = _unit(LENGTH_UNITS, length_unit, "length")
    frames = []
    try:
        images = ase.io.read(path, index=index, format="extxyz")
    except Exception as err:  # noqa: BLE001 - ASE raises many kinds for malformed files
        raise ValueError(f"{path}: not a readable extended XYZ file ({type(err).__name__}: {err})") from None
    for i, atoms in enumerate(images):
        results = dict(atoms.calc.results) if atoms.calc is not None else {}
        energy = results.get(energy_key, atoms.info.get(energy_key))
        if energy is None and energy_key == "energy":
            energy = results.get("free_energy")
        forces = results.get(forces_key, atoms.arrays.get(forces_key))
        stress = results.get(stress_key, atoms.info.get(stress_key))
        pbc = atoms.get_pbc()
        cell = np.asarray(atoms.get_cell()) * r_scale if pbc.any() else None
        try:
            frames.append(AtomicData(
                pos=atoms.get_positions() * r_scale, atomic_numbers=atoms.get_atomic_numbers(), cell=cell,
                pbc=pbc, energy=None if energy is None else float(energy) * e_scale,
                forces=None if forces is None else np.asarray(forces) * (e_scale / r_scale),
                stress=None if stress is None else np.asarray(stress) * (e_scale / r_scale ** 3),
                info={"source": os.path.basename(str(path)), "index": i}))
        except ValueError as err:
            raise ValueError(f"{path}, frame {i}: {str(err).replace('AtomicData: ', '')}") from None
    if not frames:
        raise ValueError(f"{path}: no frames")
    return frames


#: format name -> reader: the one table of dataset formats (configs and command lines use its names)
READERS = {"rmd17": read_rmd17, "sgdml": read_sgdml, "npz": read_npz, "extxyz": read_extxyz}


def detect_format(path):
    """``'rmd17'``, ``'sgdml'``, ``'npz'`` (from the keys of an npz) or ``'extxyz'`` (from the extension)."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext in (".xyz", ".extxyz"):
        return "extxyz"
    if ext == ".npz":
        if not os.path.exists(path):
            raise FileNotFoundError(f"dataset file not found: {path}")
        keys = set(_npz_arrays(path))
        for fmt in ("rmd17", "sgdml", "npz"):
            if set(_KEYS[fmt]) <= keys:
                return fmt
        raise ValueError(f"{path}: cannot tell the npz layout from its keys {sorted(keys)}; expected "
                         + "; ".join(f"{k}: {list(v)}" for k, v in _KEYS.items()))
    raise ValueError(f"{path}: unknown dataset extension {ext!r} (expected .npz, .xyz or .extxyz)")


def read_dataset(path, fmt=None, **kwargs):
    """Read any supported file: ``fmt`` in ``rmd17, sgdml, npz, extxyz`` or None to detect it.

    Examples:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "m.npz")
        >>> np.savez(p, nuclear_charges=[1, 1], coords=np.zeros((3, 2, 3)), energies=np.zeros(3),
        ...          forces=np.zeros((3, 2, 3)))
        >>> len(read_dataset(p))
        3
    """
    fmt = detect_format(path) if fmt is None else fmt
    if fmt not in READERS:
        raise ValueError(f"unknown dataset format {fmt!r}; known: {sorted(READERS)}")
    return READERS[fmt](path, **kwargs)
