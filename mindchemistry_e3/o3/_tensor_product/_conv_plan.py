r"""The numpy plan of :class:`~mindchemistry_e3.o3.TensorProductConv` (imports no MindSpore).

What is computed: the e3nn-style convolution of node features :math:`x` along the edges ``src -> dst``,

.. math::
    y_i = c \sum_{e:\ \mathrm{dst}(e) = i} \mathrm{TP}\big(x_{\mathrm{src}(e)},\ a_e;\ w_e\big),

with ``TP`` exactly ``o3.TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions,
shared_weights=False)`` (e3nn's normalisation and flat weight layout), edge attributes :math:`a_e` and
per-edge weights :math:`w_e`, and a constant factor :math:`c` (e.g. ``1 / sqrt(avg_num_neighbors)``).

The fused plan (:func:`build_conv_plan`) applies when every edge-attribute irrep that a path uses has
multiplicity 1 (spherical harmonics) and every path is weighted ``uvu`` (NequIP) or ``uvw``
(``FullyConnectedTensorProduct``, e3nn's ``gate_points`` convolutions). Per group of input-1 irreps sharing a
multiplicity ``m`` (``D`` components in all, ``K`` output rows of all the group's paths):

1. node features -> component-major ``[N, D * m]`` (one column gather on the *node* side: the layout change
   commutes with the gather of the source rows; skipped when it is the identity);
2. ``T = a @ cg``: one 2-D MatMul ``[E, d2] @ [d2, K * D]`` builds every edge's ``[K, D]`` operator (CG blocks,
   path weights and ``c`` folded into ``cg``); ``A = T @ x[src]``: one BatchMatMul ``[E, K, D] @ [E, D, m]`` for
   all paths of the group;
3. ``uvu`` rows are grouped in blocks of paths with the same output dimension ``d3``, rows ``(k, q)`` inside a
   block, so a block's weights ``[E, P_b * m]`` repeat ``d3`` times: the weights of all ``uvu`` paths are one
   concatenation (each block's weights ``d3`` times; its gradient is a split and an ``AddN``) and multiply ``A``
   in one same-shape ``Mul`` (a broadcast's gradient would be a ``ReduceSum``, ~8x slower on CPU than the split
   and ``AddN``); ``uvw`` rows are grouped by output irrep, rows ``(k, p)``, so an
   output is one BatchMatMul ``[E, d3, P_o * m] @ [E, P_o * m, mul_out]`` whose contraction runs over all its
   paths at once (output-stationary);
4. one scatter-sum at ``dst`` (``UnsortedSegmentSum``) of everything, then one column gather on the node side
   puts the result in e3nn's layout (summing paths that write the same output irrep).

The per-edge weights are used in the plan's column order (blocks of paths contiguous): one gather of the
edge-sized weights that moves a whole path at a time (``weight_map`` is a ChunkedMap; a column gather moves one
value at a time, several times slower on CPU), skipped when the order is e3nn's or when the caller produces them in the
plan's order (e.g. a radial network whose last weight matrix has its columns permuted, see ``TensorProductConv``).

Why this lowering: every heavy op is one per group, independent of the number of paths; the layout changes
act on node-sized tensors; and the per-edge products are the only per-edge (batched) matrix products, with
the large dimensions (``K``, ``m``, ``P_o * m``, ``mul_out``) where the irreps have them.

>>> plan = build_conv_plan("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o + 4x1e",
...     [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (0, 1, 1, "uvu", True), (1, 0, 1, "uvu", True),
...      (1, 1, 2, "uvu", True)])
>>> [(g.mul, g.dim, g.k, g.rows, g.tile) for g in plan.groups], plan.weight_sizes
([(4, 4, 11, (11,), (0, 1, 1, 1))], (8, 12))
"""
from typing import NamedTuple

import numpy as np

from .._irreps import Irreps
from .._so3_np import wigner_3j
from ...util._column_map_np import apply_column_map, chunked, column_map, is_identity
from ._instruction import Instruction
from ._plan import normalize_instructions

__all__ = ["ConvGroup", "ConvPlan", "uvu_instructions", "conv_plan_support", "build_conv_plan", "execute_conv_plan"]


class ConvGroup(NamedTuple):
    """The paths whose input-1 irreps share one multiplicity: one MatMul and one BatchMatMul.

    Fields:
        mul (int): the multiplicity ``m`` of the group's input irreps.
        dim (int): ``D``, the components of the group's input irreps.
        x_map (ColumnMap or None): the node features -> component-major ``[N, D * m]`` (columns ``(a, u)``);
            None when that is the identity.
        cg (ndarray): float ``[d2, K * D]``: ``(a @ cg).reshape(E, K, D)`` is every edge's operator.
        k (int): ``K``, output rows of all the group's paths.
        rows (tuple[int]): the row ranges ``A`` is cut into: the ``uvu`` rows (if any), then one range per ``uvw``
            output.
        tile (tuple[int]): the group's ``uvu`` weight pieces (one per block of paths with the same ``d3``, indices
            from 0), each repeated ``d3`` times: their concatenation matches the ``uvu`` rows ``(block, k, q, u)``;
            empty without ``uvu`` paths.
        uvw (tuple): per ``uvw`` output ``(d3, n, mul_out)``, ``n = P_o * m`` the contraction length.
        cg_gemm (ndarray or None): the same table as ``[K, d2 * D]`` for the ``"gemm"`` lowering
            (``A^T = cg_gemm @ (a (x) x[src])``, columns ``(b, a)``), else None.
        n_uvu (int): the group's ``uvu`` weight pieces (``max(tile) + 1``, 0 without ``uvu`` paths).
    """

    mul: int
    dim: int
    x_map: object
    cg: np.ndarray
    k: int
    rows: tuple
    tile: tuple
    uvw: tuple
    cg_gemm: object
    n_uvu: int


class ConvPlan(NamedTuple):
    """Everything the fused convolution executes, for :func:`execute_conv_plan` and the MindSpore Cell.

    Fields:
        groups (tuple[ConvGroup]): one per input multiplicity.
        weight_numel (int): per-edge weights (e3nn's count and layout).
        weight_map (ChunkedMap or None): the permutation of e3nn's weight columns into the plan's order (per group,
            each ``uvu`` block's paths, then each ``uvw`` output's ``[n, mul_out]``), over the largest runs of
            columns it moves whole (a ``uvu`` path's ``m`` weights stay together); None when it is the identity.
        weight_sizes (tuple[int]): the pieces of the plan-ordered weights (per group: ``uvu`` blocks, ``uvw``
            outputs).
        out_map (ColumnMap or None): the concatenated node-side results -> e3nn's output layout (adding paths that
            write the same output irrep, zeros where none does); None when that is the identity.
        num_results (int): columns of the concatenated node-side results.
        dim_out (int): ``irreps_out.dim``.
    """

    groups: tuple
    weight_numel: int
    weight_map: object
    weight_sizes: tuple
    out_map: object
    num_results: int
    dim_out: int


def uvu_instructions(irreps_in, irreps_edge_attr, irreps_out, keep=None):
    """The instructions of e3nn's and NequIP's convolutions: every ``ir_in x ir_edge -> ir_out`` that lands in
    ``irreps_out`` (or that ``keep(ir_out)`` accepts), ``uvu`` with weights, one output irrep per path, the outputs
    sorted; returns ``(irreps_mid, instructions)``.

    >>> mid, ins = uvu_instructions("2x0e + 2x1o", "0e + 1o", "0e + 1o")
    >>> str(mid), [i_out for _, _, i_out, _, _ in ins]
    ('2x0e+2x0e+2x1o+2x1o', [0, 2, 3, 1])
    """
    irreps_in, irreps_edge_attr, irreps_out = Irreps(irreps_in), Irreps(irreps_edge_attr), Irreps(irreps_out)
    irreps_mid, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_edge) in enumerate(irreps_edge_attr):
            for ir_out in ir_in * ir_edge:
                if ir_out in irreps_out or (keep is not None and keep(ir_out)):
                    instructions.append((i, j, len(irreps_mid), "uvu", True))
                    irreps_mid.append((mul, ir_out))
    irreps_mid, perm, _ = Irreps(irreps_mid).sort()
    return irreps_mid, [(i_1, i_2, perm[i_out], mode, weighted) for i_1, i_2, i_out, mode, weighted in instructions]


def conv_plan_support(irreps_in1, irreps_in2, irreps_out, instructions):
    """Why the fused plan does not apply to these normalised instructions, or None when it does.

    >>> ins = normalize_instructions("4x0e", "2x1o", "4x1o", [(0, 0, 0, "uvu", True)])
    >>> conv_plan_support("4x0e", "2x1o", "4x1o", ins)
    'edge attribute irreps must have multiplicity 1 (got 2x1o)'
    """
    irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    for ins in instructions:
        if ins.connection_mode not in ("uvu", "uvw"):
            return f"connection mode {ins.connection_mode!r} (fused: 'uvu' and 'uvw')"
        if not ins.has_weight:
            return "a path without weights"
        if irreps_in2[ins.i_in2].mul != 1:
            return f"edge attribute irreps must have multiplicity 1 (got {irreps_in2[ins.i_in2]})"
    return None


def _cg(irreps_in1, irreps_in2, irreps_out, ins):
    """``C[a, b, k]`` of an instruction times its normalisation."""
    l1, l2, l3 = irreps_in1[ins.i_in1].ir.l, irreps_in2[ins.i_in2].ir.l, irreps_out[ins.i_out].ir.l
    return wigner_3j(l1, l2, l3) * ins.path_weight


def build_conv_plan(irreps_in1, irreps_in2, irreps_out, instructions, scale=1.0, gemm=False):
    """The fused plan of ``sum_dst TensorProduct(x[src], a, w)`` times ``scale``; ``instructions`` are e3nn-style
    tuples or normalised :class:`~mindchemistry_e3.o3.Instruction` records (see
    :func:`~mindchemistry_e3.o3._tensor_product._plan.normalize_instructions`).

    ``gemm`` also gives every group its table in the layout of the ``"gemm"`` lowering (``cg_gemm``).

    Returns:
        ConvPlan.

    Raises:
        ValueError: when :func:`conv_plan_support` gives a reason.
    """
    irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    if not all(isinstance(ins, Instruction) for ins in instructions):
        instructions = normalize_instructions(irreps_in1, irreps_in2, irreps_out, instructions)
    reason = conv_plan_support(irreps_in1, irreps_in2, irreps_out, instructions)
    if reason is not None:
        raise ValueError(f"TensorProductConv({irreps_in1} x {irreps_in2} -> {irreps_out}): no fused plan: {reason}")
    sl1, sl2, slo = irreps_in1.slices(), irreps_in2.slices(), irreps_out.slices()
    w_off, off = [], 0
    for ins in instructions:
        w_off.append(off)
        off += int(np.prod(ins.path_shape))
    weight_numel = off
    live = [q for q, ins in enumerate(instructions)
            if ins.path_weight != 0 and irreps_in1[ins.i_in1].mul * irreps_out[ins.i_out].mul > 0]

    by_mul = {}
    for q in live:
        by_mul.setdefault(irreps_in1[instructions[q].i_in1].mul, []).append(q)
    groups, weight_sources, weight_sizes = [], [], []
    out_sources = [[] for _ in range(irreps_out.dim)]
    result_col = 0
    for m, paths in by_mul.items():
        inputs = sorted({instructions[q].i_in1 for q in paths})
        a_off, d, x_sources = {}, 0, []
        for i in inputs:
            a_off[i] = d
            d1 = irreps_in1[i].ir.dim
            x_sources += [[sl1[i].start + u * d1 + a] for a in range(d1) for u in range(m)]
            d += d1
        uvu = [q for q in paths if instructions[q].connection_mode == "uvu"]
        uvw = [q for q in paths if instructions[q].connection_mode == "uvw"]
        blocks = []  # (d3, paths, mode): uvu paths by output dimension, uvw paths by output irrep
        for d3 in sorted({irreps_out[instructions[q].i_out].ir.dim for q in uvu}):
            blocks.append((d3, [q for q in uvu if irreps_out[instructions[q].i_out].ir.dim == d3], "uvu"))
        for io in sorted({instructions[q].i_out for q in uvw}):
            blocks.append((irreps_out[io].ir.dim, [q for q in uvw if instructions[q].i_out == io], "uvw"))
        k = sum(d3 * len(qs) for d3, qs, _ in blocks)
        cg = np.zeros((irreps_in2.dim, k, d))
        row, uvu_rows, uvw_outs, uvw_weights, tile, uvu_sizes = 0, 0, [], [], [], []
        for d3, qs, mode in blocks:
            n = len(qs)
            for pos, q in enumerate(qs):
                ins = instructions[q]
                c = _cg(irreps_in1, irreps_in2, irreps_out, ins) * scale  # [a, b, k]
                b0, a0 = sl2[ins.i_in2].start, a_off[ins.i_in1]
                cg[b0:b0 + c.shape[1], row + np.arange(d3) * n + pos, a0:a0 + c.shape[0]] = np.transpose(c, (1, 2, 0))
            if mode == "uvu":  # rows (k, pos): the block's weights (pos, u), repeated for every k
                weight_sources += [[w_off[q] + u] for q in qs for u in range(m)]
                tile += [len(uvu_sizes)] * d3
                uvu_sizes.append(n * m)
                for kk in range(d3):
                    for pos, q in enumerate(qs):
                        o0 = slo[instructions[q].i_out].start
                        for u in range(m):
                            out_sources[o0 + u * d3 + kk].append(result_col + (row + kk * n + pos) * m + u)
                uvu_rows += d3 * n
            else:  # rows (k, pos): contraction over (pos, u) against the weights [(pos, u), w]
                io = instructions[qs[0]].i_out
                mul_out = irreps_out[io].mul
                uvw_outs.append((d3, n * m, mul_out))
                uvw_weights.append([[w_off[q] + j] for q in qs for j in range(m * mul_out)])
            row += d3 * n
        result_col += uvu_rows * m
        weight_sizes += uvu_sizes
        for (d3, n, mul_out), ws in zip(uvw_outs, uvw_weights):
            weight_sources += ws
            weight_sizes.append(n * mul_out)
        for (d3, qs, mode) in blocks:
            if mode != "uvw":
                continue
            mul_out, o0 = irreps_out[instructions[qs[0]].i_out].mul, slo[instructions[qs[0]].i_out].start
            for kk in range(d3):
                for w in range(mul_out):
                    out_sources[o0 + w * d3 + kk].append(result_col + kk * mul_out + w)
            result_col += d3 * mul_out
        x_map = column_map(x_sources, irreps_in1.dim)
        rows = ((uvu_rows,) if uvu_rows else ()) + tuple(d3 * (n // m) for d3, n, _ in uvw_outs)
        groups.append(ConvGroup(m, d, None if is_identity(x_map, irreps_in1.dim) else x_map,
                                cg.reshape(irreps_in2.dim, k * d), k, rows, tuple(tile), tuple(uvw_outs),
                                np.transpose(cg, (1, 0, 2)).reshape(k, irreps_in2.dim * d) if gemm else None,
                                len(uvu_sizes)))
    weight_map = column_map(weight_sources, weight_numel)
    out_map = column_map(out_sources, result_col)
    return ConvPlan(tuple(groups), weight_numel, None if is_identity(weight_map, weight_numel) else chunked(weight_map),
                    tuple(weight_sizes), None if is_identity(out_map, result_col) else out_map, result_col,
                    irreps_out.dim)


def execute_conv_plan(plan, x, edge_attr, weight, edge_src, edge_dst, num_nodes):
    """numpy run of the plan (mirrors the Cell step by step): ``x [N, dim1]``, ``edge_attr [E, dim2]``,
    ``weight [E, weight_numel]`` (e3nn's layout) -> ``[num_nodes, dim_out]``.

    >>> ins = normalize_instructions("2x0e", "0e", "2x0e", [(0, 0, 0, "uvu", True)])
    >>> plan = build_conv_plan("2x0e", "0e", "2x0e", ins)
    >>> execute_conv_plan(plan, np.ones((2, 2)), np.ones((1, 1)), np.full((1, 2), 3.0), [0], [1], 2).tolist()
    [[0.0, 0.0], [3.0, 3.0]]
    """
    e = edge_attr.shape[0]
    edge_src, edge_dst = np.asarray(edge_src), np.asarray(edge_dst)
    if plan.weight_map is not None:
        weight = apply_column_map(plan.weight_map, weight)
    pieces = np.split(weight, np.cumsum(plan.weight_sizes)[:-1], axis=1)
    results, w = [], 0
    for g in plan.groups:
        nu = max(g.tile, default=-1) + 1
        xc = x if g.x_map is None else apply_column_map(g.x_map, x)
        xs = xc[edge_src].reshape(e, g.dim, g.mul)
        t = (edge_attr @ g.cg).reshape(e, g.k, g.dim)
        cuts = np.split(t @ xs, np.cumsum(g.rows)[:-1], axis=1)  # A = [E, K, m] by row ranges
        edge = []
        if g.tile:
            edge.append(cuts[0].reshape(e, -1) * np.concatenate([pieces[w + b] for b in g.tile], axis=1))
            w += nu
        for j, (d3, n, mul_out) in enumerate(g.uvw):
            a_o = cuts[j + int(bool(g.tile))].reshape(e, d3, n)
            edge.append((a_o @ pieces[w].reshape(e, n, mul_out)).reshape(e, d3 * mul_out))
            w += 1
        msg = np.concatenate(edge, axis=1)
        s = np.zeros((num_nodes, msg.shape[1]))
        np.add.at(s, edge_dst, msg)
        results.append(s)
    node = np.concatenate(results + [np.zeros((num_nodes, 0))], axis=1)
    return node if plan.out_map is None else apply_column_map(plan.out_map, node)
