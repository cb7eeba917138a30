r"""``o3.FullTensorProductv2``: e3nn's experimental full tensor product (no weights), planned in numpy
(:mod:`._tensor_product_v2_np`) and lowered to one MatMul and one BatchMatMul per pair of input irreps.

>>> from mindchemistry_e3.o3 import Irreps
>>> tp = FullTensorProductv2("2x0e + 1o", "1o")
>>> tp.irreps_out, tp(Irreps("2x0e + 1o").randn(4, -1, seed=0), Irreps("1o").randn(4, -1, seed=1)).shape
(1x0e+2x1o+1x1e+1x2e, (4, 15))
"""
from mindspore import nn, ops

from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard
from ._tensor_product_v2_np import full_tp_v2_plan

__all__ = ["FullTensorProductv2"]


class FullTensorProductv2(SecondOrderGuard, nn.Cell):
    r"""Full tensor product of two irreps (e3nn's ``o3.FullTensorProductv2``): every ``mul1 * mul2`` pair of copies
    and every output irrep, no weights.

    Args:
        irreps_in1 (Irreps): first input.
        irreps_in2 (Irreps): second input.
        filter_ir_out (list[Irrep], optional): keep only these output irreps (keyword-only).
        irrep_normalization (str): ``'component'`` (default) or ``'norm'`` (keyword-only).
        regroup_output (bool): sort and merge equal irreps of the inputs first (default True; keyword-only).
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **input1** (Tensor) - ``(..., irreps_in1.dim)``.
        - **input2** (Tensor) - ``(..., irreps_in2.dim)`` (leading axes broadcast).

    Outputs:
        Tensor ``(..., irreps_out.dim)``, ``irreps_out`` the sorted (not simplified) output irreps.

    Raises:
        ValueError: unknown normalization, repeated irreps without ``regroup_output``, wrong input sizes.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> tp = FullTensorProductv2("1o", "1o", filter_ir_out=["0e", "2e"])
        >>> tp.irreps_out
        1x0e+1x2e
    """

    def __init__(self, irreps_in1, irreps_in2, *, filter_ir_out=None, irrep_normalization="component",
                 regroup_output=True, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        plan = full_tp_v2_plan(irreps_in1, irreps_in2, filter_ir_out, irrep_normalization, regroup_output)
        self.irreps_in1, self.irreps_in2, self.irreps_out = plan.irreps_in1, plan.irreps_in2, plan.irreps_out
        self.inv = list(plan.order)
        self._dims = (self.irreps_in1.dim, self.irreps_in2.dim, self.irreps_out.dim)
        self._names = (str(self.irreps_in1), str(self.irreps_in2))
        offsets1 = [s.start for s in self.irreps_in1.slices()]
        offsets2 = [s.start for s in self.irreps_in2.slices()]
        self._pairs = tuple((offsets1[i1], mul1, d1, offsets2[i2], mul2, d2, d3s, sum(d3s))
                            for i1, i2, mul1, d1, mul2, d2, _, d3s in plan.pairs)
        self._tables = [constant(p[6], dtype) for p in plan.pairs]
        self._order = tuple(plan.order)

    def construct(self, input1, input2):
        d1_all, d2_all, d_out = self._dims
        if input1.shape[-1] != d1_all or input2.shape[-1] != d2_all:
            raise ValueError(f"FullTensorProductv2({self._names[0]} x {self._names[1]}): inputs need last axes "
                             f"{d1_all} and {d2_all}, got shapes {input1.shape} and {input2.shape}")
        lead = _broadcast(input1.shape[:-1], input2.shape[:-1])
        x1 = ops.broadcast_to(input1, lead + (d1_all,)).reshape(-1, d1_all)
        x2 = ops.broadcast_to(input2, lead + (d2_all,)).reshape(-1, d2_all)
        z = x1.shape[0]
        blocks = []
        for (o1, mul1, d1, o2, mul2, d2, d3s, k), table in zip(self._pairs, self._tables):
            t = ops.matmul(x2[:, o2:o2 + mul2 * d2].reshape(z * mul2, d2), table)  # [z v, i k]
            t = ops.transpose(t.reshape(z, mul2, d1, k), (0, 2, 1, 3)).reshape(z, d1, mul2 * k)
            a = ops.bmm(x1[:, o1:o1 + mul1 * d1].reshape(z, mul1, d1), t).reshape(z, mul1, mul2, k)
            start = 0
            for d3 in d3s:
                blocks.append(a[..., start:start + d3].reshape(z, mul1 * mul2 * d3))
                start += d3
        if not blocks:
            return ops.zeros(lead + (0,), x1.dtype)
        pieces = [blocks[i] for i in self._order]
        out = ops.concat(pieces, 1) if len(pieces) > 1 else pieces[0]
        return out.reshape(lead + (d_out,))


def _broadcast(a, b):
    """Broadcast two shape tuples (Python ints only)."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = ()
    for x, y in zip(a, b):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"FullTensorProductv2: leading shapes {a} and {b} do not broadcast")
        out = out + (max(x, y),)
    return out
