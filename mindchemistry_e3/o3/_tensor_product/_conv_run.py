"""Execute a :class:`~mindchemistry_e3.o3._tensor_product._conv_plan.ConvPlan` inside ``construct``: the fused
convolution of :class:`~mindchemistry_e3.o3.TensorProductConv`, and -- without the gather and the sum -- the
per-sample-weight tensor product of paired rows in :class:`~mindchemistry_e3.o3.TensorProduct` (NequIP's ``uvu``
product), which reaches e3nn's layout by one transpose per block of paths when the plan allows it
(:func:`run_paired_plan`).
"""
from mindspore import ops

from ...util._column_map import take_chunks, take_columns
from ...util.graph import gather_rows, segment_sum

__all__ = ["run_conv_plan", "run_paired_plan"]


def run_conv_plan(cell, plan, x, a, weight, src, dst, n, gemm=False, mapped=True):
    """Execute a :class:`~._conv_plan.ConvPlan` inside ``construct`` with ``cell``'s ``split``, ``_matmul`` and
    ``_bmm``: ``src`` / ``dst`` None mean the rows of ``x`` are the edges' own (a tensor product of paired rows, no
    gather and no sum; :func:`run_paired_plan` when the plan has ``transposed_out``); ``mapped=False`` leaves the
    results before the plan's ``out_map``."""
    if src is None and mapped and plan.transposed_out and not gemm:
        return run_paired_plan(cell, plan, x, a, weight)
    e = a.shape[0]
    if plan.weight_map is not None:
        weight = take_chunks(weight, plan.weight_chunks)
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


def run_paired_plan(cell, plan, x, a, weight):
    """A plan with ``transposed_out`` on paired rows (``x [Z, dim1]``, ``a [Z, dim2]``, ``weight [Z, numel]``):
    each piece of results ``[Z, d3, width]`` is transposed to e3nn's ``[Z, width, d3]`` and the pieces are
    concatenated -- one transpose per block of paths instead of a column gather over every output column (the
    numpy mirror is :func:`~._conv_plan.execute_paired_plan`)."""
    z = a.shape[0]
    if plan.weight_map is not None:
        weight = take_chunks(weight, plan.weight_chunks)
    ws = cell.split(weight, plan.weight_sizes, 1)
    out = ()
    w = 0
    for g in plan.groups:
        xc = (x if g.x_map is None else take_columns(x, g.x_map)).reshape(z, g.dim, g.mul)
        sizes = ()
        for _, r, _ in g.pieces:
            sizes = sizes + (r * g.dim,)
        ts = cell.split(cell._matmul(a, g.cg), sizes, 1)  # every piece's operators: the small T is cut, not A
        for j in range(len(g.pieces)):
            d3, r, width = g.pieces[j]
            a_p = cell._bmm(ts[j].reshape(z, r, g.dim), xc)  # [Z, rows, m]: one BatchMatMul per piece
            if j < g.n_uvu:  # the block's weights once per output component: a same-shape multiply
                res = a_p.reshape(z, d3 * width) * (ws[w] if d3 == 1 else ops.concat((ws[w],) * d3, 1))
            else:  # an output-stationary uvw output: [Z, d3, P_o m] @ [Z, P_o m, mul_out]
                res = cell._bmm(a_p.reshape(z, d3, r // d3 * g.mul), ws[w].reshape(z, r // d3 * g.mul, width))
            if d3 > 1:
                res = ops.transpose(res.reshape(z, d3, width), (0, 2, 1))
            out = out + (res.reshape(z, d3 * width),)
            w = w + 1
    if len(out) == 0:
        return ops.zeros((z, 0), x.dtype)
    return out[0] if len(out) == 1 else ops.concat(out, 1)
