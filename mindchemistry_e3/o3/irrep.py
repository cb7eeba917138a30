r"""Irreducible representations of :math:`O(3)` by attribute name, as ``e3nn.o3.irrep``: ``l1o`` is ``Irrep("1o")``.

>>> from mindchemistry_e3.o3 import irrep, Irrep
>>> irrep.l0e == Irrep("0e")
True
>>> from mindchemistry_e3.o3.irrep import l1o, l2o
>>> l1o + l2o == Irrep("1o") + Irrep("2o")
True
"""
from ._irreps import Irrep


def __getattr__(name):
    """``l<l><p>`` (e.g. ``l2e``) -> ``Irrep("<l><p>")``; AttributeError for any other name."""
    prefix, *ir = name
    if prefix != "l" or not ir:
        raise AttributeError(f"module 'mindchemistry_e3.o3.irrep' has no attribute {name!r}")
    try:
        return Irrep("".join(ir))
    except (ValueError, AssertionError):
        raise AttributeError(f"module 'mindchemistry_e3.o3.irrep' has no attribute {name!r}") from None
