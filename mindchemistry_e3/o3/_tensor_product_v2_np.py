r"""Plan of ``FullTensorProductv2`` (no MindSpore): e3nn's experimental full tensor product.

Every pair of input irreps ``(mul1 x ir1, mul2 x ir2)`` and every ``ir_out`` in ``ir1 x ir2`` (kept by
``filter_ir_out``) gives the block ``z[u, v, k] = sum_ij x1[u, i] x2[v, j] C[i, j, k]`` of ``mul1 * mul2`` copies of
``ir_out``, with the Wigner 3j symbol ``C`` times :math:`\sqrt{2 l_{out} + 1}` (``'component'``) or
:math:`\sqrt{(2 l_1 + 1)(2 l_2 + 1)}` (``'norm'``). The blocks of one input pair share one table (their ``C``
side by side); the output is the blocks sorted by irrep (stable), as e3nn orders them.

>>> plan = full_tp_v2_plan("2x0e + 1o", "1o", None, "component", True)
>>> plan.irreps_out, len(plan.pairs)
(1x0e+2x1o+1x1e+1x2e, 2)
"""
from collections import namedtuple

import numpy as np

from ._irreps import Irrep, Irreps
from ._so3_np import wigner_3j

FullTPv2Plan = namedtuple("FullTPv2Plan", "irreps_in1 irreps_in2 irreps_out pairs order")
FullTPv2Plan.__doc__ = """``pairs``: per input pair ``(i1, i2, mul1, d1, mul2, d2, table [d2, d1 * sum d3], d3s)``
(``table[j, i * K + k]`` = scaled ``C[i, j, k]`` of the pair's outputs side by side); ``order``: the block index of
each sorted output irrep (blocks numbered pair by pair, output by output)."""


def full_tp_v2_plan(irreps_in1, irreps_in2, filter_ir_out, irrep_normalization, regroup_output):
    """The :class:`FullTPv2Plan` of e3nn's ``FullTensorProductv2`` (see the module doc)."""
    if irrep_normalization not in ("component", "norm"):
        raise ValueError(f"irrep_normalization={irrep_normalization!r} not supported; use 'component' or 'norm'")
    irreps_in1, irreps_in2 = Irreps(irreps_in1), Irreps(irreps_in2)
    if regroup_output:
        irreps_in1, irreps_in2 = irreps_in1.regroup(), irreps_in2.regroup()
    else:
        for irreps in (irreps_in1, irreps_in2):
            irs = [ir for _, ir in irreps]
            if len(set(irs)) != len(irs):
                raise ValueError(f"FullTensorProductv2 with regroup_output=False needs distinct irreps (e3nn keys "
                                 f"its paths by irrep), got {irreps}")
    if isinstance(filter_ir_out, (str, Irreps)):
        filter_ir_out = [ir for _, ir in Irreps(filter_ir_out)]
    elif filter_ir_out is not None:
        filter_ir_out = [Irrep(ir) for ir in filter_ir_out]
    pairs, irreps_out = [], []
    for i1, (mul1, ir1) in enumerate(irreps_in1):
        for i2, (mul2, ir2) in enumerate(irreps_in2):
            blocks = []
            for ir_out in ir1 * ir2:
                if filter_ir_out is not None and ir_out not in filter_ir_out:
                    continue
                scale = np.sqrt(ir_out.dim) if irrep_normalization == "component" else np.sqrt(ir1.dim * ir2.dim)
                blocks.append(wigner_3j(ir1.l, ir2.l, ir_out.l) * scale)
                irreps_out.append((mul1 * mul2, ir_out))
            if blocks:
                table = np.concatenate(blocks, axis=2).transpose(1, 0, 2).reshape(ir2.dim, -1)
                pairs.append((i1, i2, mul1, ir1.dim, mul2, ir2.dim, table, tuple(b.shape[2] for b in blocks)))
    irreps_out, _, order = Irreps(irreps_out).sort()
    return FullTPv2Plan(irreps_in1, irreps_in2, irreps_out, tuple(pairs), tuple(order))
