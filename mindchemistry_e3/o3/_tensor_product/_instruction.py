"""The :class:`Instruction` record of a tensor-product path (e3nn's layout, field for field)."""
from typing import NamedTuple

__all__ = ["Instruction"]


class Instruction(NamedTuple):
    """One path ``irreps_in1[i_in1] x irreps_in2[i_in2] -> irreps_out[i_out]`` of a tensor product.

    Fields:
        i_in1, i_in2, i_out (int): indices into the three irreps.
        connection_mode (str): how the multiplicities meet: ``uvw, uvu, uvv, uuw, uuu, uvuv, uvu<v, u<vw``.
        has_weight (bool): whether the path has learnable weights.
        path_weight (float): the fixed factor applied to the path (after the module's normalisation it holds the
            full normalisation coefficient, as in e3nn).
        path_shape (tuple): the shape of the path's weights (e.g. ``(mul1, mul2, mul_out)`` for ``uvw``).

    >>> Instruction(0, 0, 0, "uvu", True, 1.0, (4, 1))
    Instruction(i_in1=0, i_in2=0, i_out=0, connection_mode='uvu', has_weight=True, path_weight=1.0, path_shape=(4, 1))
    """

    i_in1: int
    i_in2: int
    i_out: int
    connection_mode: str
    has_weight: bool
    path_weight: float
    path_shape: tuple
