"""One atomic structure as plain numpy arrays (``AtomicData``) and the species -> type-index map.

Units inside the application are fixed: positions and cells in Å, energies in eV, forces in eV/Å, stress in
eV/Å^3 (ASE's convention: ``stress = (1/V) dE/dstrain``, positive = tensile). Readers convert on the way in.
"""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

#: Chemical symbols by atomic number (index 0 is a placeholder).
CHEMICAL_SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb "
    "Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf "
    "Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og"
).split()


def symbol(z):
    """Chemical symbol of atomic number ``z`` (``'Z=...'`` when out of range)."""
    z = int(z)
    return CHEMICAL_SYMBOLS[z] if 0 < z < len(CHEMICAL_SYMBOLS) else f"Z={z}"


def _check_finite(array, what):
    """ValueError when ``array`` holds NaN or inf (naming the quantity and the first bad entries)."""
    bad = ~np.isfinite(array)
    if bad.any():
        where = np.argwhere(bad)[:3].tolist() if np.ndim(array) else []
        raise ValueError(f"non-finite values in {what} ({int(bad.sum())} of {bad.size}"
                         + (f", e.g. at {where}" if where else "") + ")")


@dataclass
class AtomicData:
    """One structure: atoms, optional periodic cell, optional labels and (once built) its neighbour list.

    Attributes:
        pos (ndarray): float64 ``[N, 3]`` positions, Å.
        atomic_numbers (ndarray): int64 ``[N]``.
        cell (ndarray or None): float64 ``[3, 3]`` lattice vectors as rows, Å; None for a molecule.
        pbc (ndarray): bool ``[3]``; all False when ``cell`` is None.
        energy (float or None): total energy, eV.
        forces (ndarray or None): float64 ``[N, 3]``, eV/Å.
        stress (ndarray or None): float64 ``[3, 3]``, eV/Å^3.
        edge_src, edge_dst (ndarray or None): int64 ``[E]``; edge vector is
            ``pos[edge_dst] - pos[edge_src] + edge_shift @ cell`` (see ``mindchemistry_e3.util.radius_graph``).
        edge_shift (ndarray or None): int64 ``[E, 3]`` integer cell shifts.
        r_max (float or None): the cutoff the neighbour list was built with.

    Examples:
        >>> import numpy as np
        >>> d = AtomicData(pos=np.zeros((2, 3)) + [[0, 0, 0], [0, 0, 1]], atomic_numbers=[1, 1], energy=-1.0)
        >>> d.num_atoms, d.pbc.tolist()
        (2, [False, False, False])
    """

    pos: np.ndarray
    atomic_numbers: np.ndarray
    cell: Optional[np.ndarray] = None
    pbc: Optional[np.ndarray] = None
    energy: Optional[float] = None
    forces: Optional[np.ndarray] = None
    stress: Optional[np.ndarray] = None
    edge_src: Optional[np.ndarray] = None
    edge_dst: Optional[np.ndarray] = None
    edge_shift: Optional[np.ndarray] = None
    r_max: Optional[float] = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.pos = np.asarray(self.pos, dtype=np.float64)
        if self.pos.ndim != 2 or self.pos.shape[1] != 3:
            raise ValueError(f"AtomicData: pos must have shape [num_atoms, 3], got {self.pos.shape}")
        _check_finite(self.pos, "positions")
        n = self.pos.shape[0]
        z = np.asarray(self.atomic_numbers)
        if z.shape != (n,):
            raise ValueError(f"AtomicData: atomic_numbers must have shape [{n}] (one per atom), got {z.shape}")
        if z.size and (not np.issubdtype(z.dtype, np.integer) and not np.all(z == np.round(z))):
            raise ValueError(f"AtomicData: atomic_numbers must be integers, got {z[:5]}")
        self.atomic_numbers = z.astype(np.int64)
        if np.any(self.atomic_numbers <= 0) or np.any(self.atomic_numbers >= len(CHEMICAL_SYMBOLS)):
            bad = self.atomic_numbers[(self.atomic_numbers <= 0) | (self.atomic_numbers >= len(CHEMICAL_SYMBOLS))]
            raise ValueError(f"AtomicData: atomic numbers must be in 1..118, got {sorted(set(bad.tolist()))}")
        if self.cell is not None:
            self.cell = np.asarray(self.cell, dtype=np.float64)
            if self.cell.shape == (3,):
                self.cell = np.diag(self.cell)
            if self.cell.shape != (3, 3):
                raise ValueError(f"AtomicData: cell must have shape [3, 3], got {self.cell.shape}")
            _check_finite(self.cell, "cell")
        if self.pbc is None:
            self.pbc = np.array([self.cell is not None] * 3)
        self.pbc = np.broadcast_to(np.asarray(self.pbc, dtype=bool), (3,)).copy()
        if self.pbc.any() and self.cell is None:
            raise ValueError(f"AtomicData: pbc={self.pbc.tolist()} needs a cell")
        if self.pbc.any() and not abs(np.linalg.det(self.cell)) > 1e-6:
            raise ValueError(f"AtomicData: the periodic cell has zero volume (cell {self.cell.tolist()})")
        if self.energy is not None:
            e = np.asarray(self.energy, dtype=np.float64)
            if e.size != 1:
                raise ValueError(f"AtomicData: energy must be a scalar, got shape {e.shape}")
            self.energy = float(e.reshape(()))
            _check_finite(e, "energy")
        if self.forces is not None:
            self.forces = np.asarray(self.forces, dtype=np.float64)
            if self.forces.shape != (n, 3):
                raise ValueError(f"AtomicData: forces must have shape [{n}, 3] like pos, got {self.forces.shape}")
            _check_finite(self.forces, "forces")
        if self.stress is not None:
            s = np.asarray(self.stress, dtype=np.float64)
            if s.shape == (6,):  # Voigt order xx yy zz yz xz xy (ASE)
                s = np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])
            if s.shape != (3, 3):
                raise ValueError(f"AtomicData: stress must have shape [3, 3] or Voigt [6], got {s.shape}")
            _check_finite(s, "stress")
            self.stress = s

    @property
    def num_atoms(self):
        """Number of atoms."""
        return self.pos.shape[0]

    def to_ase(self):
        """The structure (no labels) as ``ase.Atoms``.

        >>> AtomicData(pos=[[0, 0, 0], [0, 0, 0.74]], atomic_numbers=[1, 1]).to_ase().get_chemical_formula()
        'H2'
        """
        from ase import Atoms

        return Atoms(numbers=self.atomic_numbers, positions=self.pos, cell=self.cell, pbc=self.pbc)

    @property
    def num_edges(self):
        """Number of edges of the neighbour list (raises if it was not built)."""
        if self.edge_src is None:
            raise ValueError("AtomicData: no neighbour list; call applications.nequip.data.build_neighbors first")
        return len(self.edge_src)

    def edge_vectors(self):
        """Edge vectors ``pos[dst] - pos[src] + shift @ cell``, float64 ``[E, 3]``."""
        vec = self.pos[self.edge_dst] - self.pos[self.edge_src]
        if self.cell is not None:
            vec = vec + self.edge_shift @ self.cell
        return vec


class TypeMapper:
    """Maps atomic numbers to contiguous type indices ``0..num_types-1`` (in the order of ``species``).

    Args:
        species (list[int or str]): atomic numbers or chemical symbols the model knows.

    Examples:
        >>> m = TypeMapper(["H", "C", 8])
        >>> m.species, m.num_types, m.types([8, 1, 6, 1]).tolist()
        ([1, 6, 8], 3, [2, 0, 1, 0])
    """

    def __init__(self, species):
        zs = []
        for s in species:
            if isinstance(s, str):
                if s not in CHEMICAL_SYMBOLS[1:]:
                    raise ValueError(f"TypeMapper: unknown chemical symbol {s!r}")
                zs.append(CHEMICAL_SYMBOLS.index(s))
            else:
                zs.append(int(s))
        if not zs:
            raise ValueError("TypeMapper: species is empty")
        if len(set(zs)) != len(zs):
            raise ValueError(f"TypeMapper: duplicate species in {species}")
        self.species = sorted(zs)
        self._lut = np.full(max(self.species) + 1, -1, dtype=np.int64)
        self._lut[self.species] = np.arange(len(self.species))

    @classmethod
    def from_frames(cls, frames):
        """The species present in ``frames`` (sorted by atomic number)."""
        return cls(sorted(set(np.concatenate([f.atomic_numbers for f in frames]).tolist())))

    @property
    def num_types(self):
        """Number of species."""
        return len(self.species)

    @property
    def symbols(self):
        """Chemical symbols, in type-index order."""
        return [symbol(z) for z in self.species]

    def types(self, atomic_numbers, where=""):
        """Type index of every atom; ValueError naming the element for a species the map does not know."""
        z = np.asarray(atomic_numbers, dtype=np.int64)
        known = (z > 0) & (z < len(self._lut))
        known[known] = self._lut[z[known]] >= 0
        if not known.all():
            bad = sorted(set(z[~known].tolist()))
            raise ValueError(f"unknown species {[symbol(b) for b in bad]} {where}: the model's species are "
                             f"{self.symbols}")
        return self._lut[z]

    def check(self, frames):
        """Raise ValueError if any frame holds a species the map does not know."""
        for i, f in enumerate(frames):
            self.types(f.atomic_numbers, where=f"in frame {i}")

    def __repr__(self):
        return f"TypeMapper({self.symbols})"
