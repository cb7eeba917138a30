"""NequIP data layer: readers (rMD17, sGDML, npz, extxyz) -> ``AtomicData`` (eV, Å) -> neighbour lists ->
seeded split -> padded batches in a few fixed buckets (static shapes for the compiled train step).

Examples:
    >>> import numpy as np
    >>> from applications.nequip.data import AtomicData, TypeMapper, build_neighbors, BatchLoader
    >>> frames = build_neighbors([AtomicData(pos=np.random.default_rng(i).normal(size=(4, 3)),
    ...                                      atomic_numbers=[1, 1, 8, 6], energy=-1.0) for i in range(3)], 5.0)
    >>> b = next(iter(BatchLoader(frames, TypeMapper.from_frames(frames), batch_size=2)))
    >>> b.bucket
    (32, 32, 3)
"""
from .atomic_data import AtomicData, TypeMapper, CHEMICAL_SYMBOLS, symbol
from .readers import (ENERGY_UNITS, LENGTH_UNITS, read_rmd17, read_sgdml, read_npz, read_extxyz, read_dataset,
                      detect_format)
from .neighbors import build_neighbors, IsolatedAtomWarning
from .split import train_val_test_split
from .batching import Batch, BatchLoader, collate, round_up, max_bucket, padding_batch
from .statistics import average_num_neighbors, per_species_energy_shift, force_rms

__all__ = [
    "AtomicData", "TypeMapper", "CHEMICAL_SYMBOLS", "symbol",
    "ENERGY_UNITS", "LENGTH_UNITS", "read_rmd17", "read_sgdml", "read_npz", "read_extxyz", "read_dataset",
    "detect_format", "build_neighbors", "IsolatedAtomWarning", "train_val_test_split",
    "Batch", "BatchLoader", "collate", "round_up", "max_bucket", "padding_batch",
    "average_num_neighbors", "per_species_energy_shift", "force_rms",
]
