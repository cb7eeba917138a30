"""Execute a :class:`~mindchemistry_e3.o3._tensor_product._conv_plan.ConvPlan` inside ``construct``: the fused
convolution of :class:`~mindchemistry_e3.o3.TensorProductConv`, and -- without the gather and the sum -- the
per-sample-weight tensor product of paired rows in :class:`~mindchemistry_e3.o3.TensorProduct` (NequIP's ``uvu``
product).
"""
from mindspore import ops

from ...util._column_map import take_chunks, take_columns
from ...util.graph import gather_rows, segment_sum

__all__ = ["run_conv_plan"]


def run_conv_plan(cell, plan, x, a, weight, src, dst, n, gemm=False, mapped=True):
    """Execute a :class:`~._conv_plan.ConvPlan` inside ``construct`` with ``cell``'s ``split``, ``_matmul`` and
    ``_bmm``: ``src`` / ``dst`` None mean the rows of ``x`` are the edges' own (a tensor product of paired rows, no
    gather and no sum); ``mapped=False`` leaves the results before the plan's ``out_map``."""
    e = a.shape[0]
    if plan.weight_map is not None:
        weight = take_chunks(weight, plan.weight_map)
    ws = cell.split(weight, plan.weight_sizes, 1)
    results = ()
    w = 0
    for g in plan.groups:
        xc = x if g.x_map is None else take_columns(x, g.x_map)
        xs = xc if src is None else gather_rows(xc, src)
        if gemm:  # [K, d2 D] @ [d2 D, E m]: edges batched into the columns of one MatMul
            d2 = a.shape[1]
            outer = cell._bmm(a.reshape(e, d2, 1), xs.reshape(e, 1, g.dim * g.mul))  # [E, d2, D m]
            outer = ops.transpose(outer.reshape(e, d2 * g.dim, g.mul), (1, 0, 2)).reshape(d2 * g.dim, e * g.mul)
            y = ops.transpose(cell._matmul(g.cg_gemm, outer).reshape(g.k, e, g.mul), (1, 0, 2))
        else:
            y = cell._bmm(cell._matmul(a, g.cg).reshape(e, g.k, g.dim), xs.reshape(e, g.dim, g.mul))
        cuts = cell.split(y, g.rows, 1)  # A [E, K, m] by row ranges
        edge = ()
        if g.n_uvu > 0:  # every uvu block's weights once per output component: one same-shape multiply
            tiled = ()
            for b in g.tile:
                tiled = tiled + (ws[w + b],)
            edge = edge + (cuts[0].reshape(e, -1) * (tiled[0] if len(tiled) == 1 else ops.concat(tiled, 1)),)
            w = w + g.n_uvu
        for j in range(len(g.uvw)):
            d3, k, mul_out = g.uvw[j]
            a_o = cuts[j + 1 if g.n_uvu > 0 else j].reshape(e, d3, k)
            edge = edge + (cell._bmm(a_o, ws[w].reshape(e, k, mul_out)).reshape(e, d3 * mul_out),)
            w = w + 1
        msg = edge[0] if len(edge) == 1 else ops.concat(edge, 1)
        results = results + ((msg if dst is None else segment_sum(msg, dst, n)),)
    if len(results) == 0:
        node = ops.zeros((n, 0), x.dtype)
    elif len(results) == 1:
        node = results[0]
    else:
        node = ops.concat(results, 1)
    if plan.out_map is None or not mapped:
        return node
    return take_columns(node, plan.out_map)
