"""Dataset statistics the NequIP model needs at construction (computed on the training frames only)."""
import numpy as np


def average_num_neighbors(frames):
    """Mean number of edges per atom (NequIP's ``avg_num_neighbors``; divides the scatter-sum).

    Examples:
        >>> from applications.nequip.data import AtomicData, build_neighbors
        >>> average_num_neighbors(build_neighbors([AtomicData(pos=[[0, 0, 0], [0, 0, 1.0]],
        ...                                                   atomic_numbers=[1, 1])], 2.0))
        1.0
    """
    atoms = sum(f.num_atoms for f in frames)
    if atoms == 0:
        raise ValueError("average_num_neighbors: no atoms")
    return float(sum(f.num_edges for f in frames) / atoms)


def per_species_energy_shift(frames, type_mapper, ridge=0.0):
    """Least-squares ``mu_s`` with ``E_frame ~ sum_s count_s(frame) * mu_s`` (eV per atom of species s).

    When every frame has the same composition (a single molecule) the system is rank-deficient; the
    minimum-norm solution is returned, which spreads the mean energy over the species in proportion to
    their counts (it reproduces the mean frame energy exactly).

    Examples:
        >>> from applications.nequip.data import AtomicData, TypeMapper
        >>> fr = [AtomicData(pos=[[0, 0, 0]] * 2, atomic_numbers=[1, 8], energy=-5.0),
        ...       AtomicData(pos=[[0, 0, 0]] * 3, atomic_numbers=[1, 1, 8], energy=-6.0)]
        >>> per_species_energy_shift(fr, TypeMapper([1, 8])).round(6).tolist()
        [-1.0, -4.0]
    """
    labelled = [f for f in frames if f.energy is not None]
    if not labelled:
        raise ValueError("per_species_energy_shift: no frame has an energy")
    counts = np.stack([np.bincount(type_mapper.types(f.atomic_numbers), minlength=type_mapper.num_types)
                       for f in labelled]).astype(np.float64)
    energies = np.array([f.energy for f in labelled])
    if ridge > 0:
        a = counts.T @ counts + ridge * np.eye(counts.shape[1])
        return np.linalg.solve(a, counts.T @ energies)
    return np.linalg.lstsq(counts, energies, rcond=None)[0]


def force_rms(frames):
    """Root mean square of all force components (eV/Å): NequIP's default per-atom energy scale.

    Examples:
        >>> import numpy as np
        >>> from applications.nequip.data import AtomicData
        >>> force_rms([AtomicData(pos=np.zeros((1, 3)), atomic_numbers=[1], forces=[[3.0, 0, 4.0]])])
        2.886751345948129
    """
    forces = [f.forces.ravel() for f in frames if f.forces is not None]
    if not forces:
        raise ValueError("force_rms: no frame has forces")
    return float(np.sqrt(np.mean(np.concatenate(forces) ** 2)))
