"""mindchemistry_e3.o3: irreducible representations of O(3), rotations, spherical harmonics, tensor products.

Mirrors ``e3nn.o3``.
"""
from ._irreps import Irrep, Irreps  # noqa: F401
