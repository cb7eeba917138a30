r"""Norm of every irrep in a direct sum: :class:`Norm` (e3nn's ``o3.Norm``) as a MindSpore Cell.

For an input block of ``mul`` copies of an irrep of dimension ``d``, the output holds ``mul`` scalars
:math:`\|x_u\| = (\sum_m x_{u,m}^2)^{1/2}` (or the squared norms). e3nn evaluates it as a ``uuu`` tensor product
of the input with itself followed by ``relu().sqrt()``; here it is one elementwise square, split into blocks (one
concatenation backward), a sum over the last axis of each ``(B, mul, d)`` block, and a square root written with the double-``where`` recipe so that the
gradient at a zero irrep is 0 (what e3nn returns there), at first and second order, instead of NaN.
"""
import mindspore as ms
from mindspore import nn, ops

from ..util.dtype import check_float_dtype
from ..util.second_order import SecondOrderGuard
from ._irreps import Irreps
from ._linear import SplitLastAxis


def _prod(shape):
    n = 1
    for s in shape:
        n = n * s
    return n


class Norm(SecondOrderGuard, nn.Cell):
    r"""Norm of each irrep in a direct sum of irreps (e3nn 0.6.0's ``o3.Norm``).

    ``irreps_in`` is simplified first (consecutive equal irreps merged), as in e3nn; the output has one scalar
    per irrep copy, ``irreps_out = (mul_1 + mul_2 + ...) x 0e``.

    Args:
        irreps_in (Irreps): representation of the input.
        squared (bool): return the squared norms instead of the norms. Default ``False``.
        dtype (mindspore.dtype): the floating dtype the Cell is used with (keyword only). Default: the default dtype
            (``get_default_dtype()``).

    Inputs:
        - **features** (Tensor) - shape ``(..., irreps_in.dim)``.

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)``: the norms, with gradient 0 where an irrep is exactly zero.

    Raises:
        ValueError: if the input's last axis is not ``irreps_in.dim``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> norm = Norm("17x1o")
        >>> norm(ms.ops.ones((17 * 3,), ms.float32)).shape
        (17,)
    """

    def __init__(self, irreps_in, squared=False, *, dtype=None):
        super().__init__()
        self.irreps_in = Irreps(irreps_in).simplify()
        self.irreps_out = Irreps([(mul, "0e") for mul, _ in self.irreps_in]).simplify()
        self.squared = bool(squared)
        self.dtype = dtype = check_float_dtype(dtype)
        self._name = f"Norm({self.irreps_in})"
        self._dim_in = self.irreps_in.dim
        self._dim_out = self.irreps_out.dim
        self._blocks = tuple((mul, ir.dim) for mul, ir in self.irreps_in if mul * ir.dim > 0)
        self._split = SplitLastAxis(tuple(mul * d for mul, d in self._blocks))

    def __repr__(self):
        return f"{self.__class__.__name__}({self.irreps_in})"

    def construct(self, features):
        if features.ndim < 1 or features.shape[-1] != self._dim_in:
            raise ValueError(f"{self._name}: expected features of shape (..., {self._dim_in}), got {features.shape}")
        batch = features.shape[:-1]
        B = _prod(batch)
        x = features.reshape(B, self._dim_in)
        pieces = []
        if len(self._blocks) > 0:
            sq = self._split(x * x)
            for i, (mul, d) in enumerate(self._blocks):
                if d == 1:
                    pieces.append(sq[i])
                else:
                    pieces.append(sq[i].reshape(B, mul, d).sum(-1))
        if len(pieces) == 0:
            out = ops.zeros((B, 0), features.dtype)
        elif len(pieces) == 1:
            out = pieces[0]
        else:
            out = ops.concat(pieces, axis=1)
        if not self.squared:
            nonzero = out > 0
            out = ops.where(nonzero, ops.sqrt(ops.where(nonzero, out, ops.ones_like(out))), ops.zeros_like(out))
        return out.reshape(batch + (self._dim_out,))
