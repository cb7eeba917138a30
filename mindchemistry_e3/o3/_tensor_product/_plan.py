r"""The numpy plan of a tensor product: normalised instructions, grouped paths, scaled CG blocks, weight indices.

Imports no MindSpore. :func:`normalize_instructions` turns e3nn-style instruction tuples into
:class:`Instruction` records whose ``path_weight`` holds the full normalisation coefficient (e3nn 0.6.0's
formulas). :func:`build_plan` groups the paths so that a backend evaluates the product with a handful of
batched matrix products (see :class:`TensorProductPlan` and the docstring of ``_tensor_product.py``).
:func:`execute_plan` runs a plan in numpy (it mirrors the MindSpore ``construct`` step by step) and
:func:`naive_tensor_product` is an independent per-path einsum reference used to test plans.

>>> plan = build_plan("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o", [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True)])
>>> plan.weight_numel, len(plan.groups)
(4, 2)
"""
import math
from typing import NamedTuple

import numpy as np

from .._irreps import Irreps
from .._so3_np import wigner_3j
from .._stacked_np import StackTerm, StackTerms, stacked_plan
from ._instruction import Instruction

__all__ = [
    "CONNECTION_MODES",
    "normalize_instructions",
    "build_plan",
    "TensorProductPlan",
    "Group",
    "PathStep",
    "OutputStationary",
    "OutputStationaryBlock",
    "execution_plan",
    "execute_plan",
    "naive_tensor_product",
    "scalar_stack_terms",
    "scalar_stacked_plan",
]

CONNECTION_MODES = ("uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw")
IRREP_NORMALIZATIONS = ("component", "norm", "none")
PATH_NORMALIZATIONS = ("element", "path", "none")


def _path_shape(mode, mul1, mul2, mul_out):
    return {
        "uvw": (mul1, mul2, mul_out),
        "uvu": (mul1, mul2),
        "uvv": (mul1, mul2),
        "uuw": (mul1, mul_out),
        "uuu": (mul1,),
        "uvuv": (mul1, mul2),
        "uvu<v": (mul1 * (mul2 - 1) // 2,),
        "u<vw": (mul1 * (mul2 - 1) // 2, mul_out),
    }[mode]


def _num_elements(mode, mul1, mul2):
    return {
        "uvw": mul1 * mul2,
        "uvu": mul2,
        "uvv": mul1,
        "uuw": mul1,
        "uuu": 1,
        "uvuv": 1,
        "uvu<v": 1,
        "u<vw": mul1 * (mul2 - 1) // 2,
    }[mode]


def _check_var(var, irreps, name, where):
    if var is None:
        return [1.0] * len(irreps)
    var = [float(v) for v in np.asarray(var, dtype=np.float64).reshape(-1)]
    if len(var) != len(irreps):
        raise ValueError(f"{where}: {name} has {len(var)} entries but irreps {irreps} has {len(irreps)}")
    return var


def normalize_instructions(irreps_in1, irreps_in2, irreps_out, instructions, in1_var=None, in2_var=None,
                           out_var=None, irrep_normalization="component", path_normalization="element"):
    r"""Validate e3nn-style instructions and fold the normalisation into ``path_weight``.

    Each instruction is ``(i_in1, i_in2, i_out, mode, has_weight[, path_weight])``. The returned
    :class:`Instruction` has ``path_weight = sqrt(alpha)`` with e3nn 0.6.0's ``alpha``: ``ir_out.dim``
    (component), ``ir1.dim * ir2.dim`` (norm) or 1 (none), divided by the summed ``in1_var * in2_var *
    num_elements`` of the paths into the same output (element) or of this path times the number of paths into
    its output (path), times ``out_var`` and the user's ``path_weight``.

    Raises:
        ValueError: unknown mode or normalisation, index out of range, selection/parity rule broken,
            multiplicities that the mode cannot connect, wrong variance lengths.

    >>> ins = normalize_instructions("1o", "1o", "0e", [(0, 0, 0, "uuu", False)])
    >>> round(ins[0].path_weight, 6)
    1.0
    """
    irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    where = f"TensorProduct({irreps_in1} x {irreps_in2} -> {irreps_out})"
    if irrep_normalization is None:
        irrep_normalization = "component"
    if path_normalization is None:
        path_normalization = "element"
    if irrep_normalization not in IRREP_NORMALIZATIONS:
        raise ValueError(f"{where}: irrep_normalization must be one of {IRREP_NORMALIZATIONS}, "
                         f"got {irrep_normalization!r}")
    if path_normalization not in PATH_NORMALIZATIONS:
        raise ValueError(f"{where}: path_normalization must be one of {PATH_NORMALIZATIONS}, "
                         f"got {path_normalization!r}")
    in1_var = _check_var(in1_var, irreps_in1, "in1_var", where)
    in2_var = _check_var(in2_var, irreps_in2, "in2_var", where)
    out_var = _check_var(out_var, irreps_out, "out_var", where)

    parsed = []
    for ins in instructions:
        ins = tuple(ins)
        if len(ins) not in (5, 6):
            raise ValueError(f"{where}: an instruction is (i_in1, i_in2, i_out, mode, has_weight[, path_weight]), "
                             f"got {ins!r}")
        i1, i2, io, mode, has_weight = ins[:5]
        path_weight = float(ins[5]) if len(ins) == 6 else 1.0
        for idx, irreps, name in ((i1, irreps_in1, "i_in1"), (i2, irreps_in2, "i_in2"), (io, irreps_out, "i_out")):
            if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or not 0 <= idx < len(irreps):
                raise ValueError(f"{where}: instruction {ins!r} has {name}={idx!r} out of range "
                                 f"(irreps {irreps} has {len(irreps)} entries)")
        if mode not in CONNECTION_MODES:
            raise ValueError(f"{where}: instruction {ins!r} has unknown connection mode {mode!r}; "
                             f"expected one of {CONNECTION_MODES}")
        (mul1, ir1), (mul2, ir2), (mul_out, ir_out) = irreps_in1[i1], irreps_in2[i2], irreps_out[io]
        if ir1.p * ir2.p != ir_out.p:
            raise ValueError(f"{where}: instruction {ins!r} breaks the parity rule: {ir1} x {ir2} -> {ir_out}")
        if not abs(ir1.l - ir2.l) <= ir_out.l <= ir1.l + ir2.l:
            raise ValueError(f"{where}: instruction {ins!r} breaks the selection rule |l1-l2| <= l_out <= l1+l2: "
                             f"{ir1} x {ir2} -> {ir_out}")
        bad = None
        if mode == "uvu" and mul1 != mul_out:
            bad = "mul_in1 == mul_out"
        if mode == "uvv" and mul2 != mul_out:
            bad = "mul_in2 == mul_out"
        if mode in ("uuw", "uuu", "uvu<v", "u<vw") and mul1 != mul2:
            bad = "mul_in1 == mul_in2"
        if mode == "uuu" and mul1 != mul_out:
            bad = "mul_in1 == mul_in2 == mul_out"
        if mode == "uvuv" and mul1 * mul2 != mul_out:
            bad = "mul_in1 * mul_in2 == mul_out"
        if mode == "uvu<v" and mul1 * (mul1 - 1) // 2 != mul_out:
            bad = "mul_in1 * (mul_in1 - 1) / 2 == mul_out"
        if mode == "uuw" and not has_weight and mul_out != 1:
            bad = "mul_out == 1 (uuw without weights)"
        if mode in ("uvw", "u<vw") and not has_weight:
            bad = "has_weight=True"
        if bad is not None:
            raise ValueError(f"{where}: instruction {ins!r} ({mul1}x{ir1} x {mul2}x{ir2} -> {mul_out}x{ir_out}) "
                             f"needs {bad} for mode {mode!r}")
        parsed.append((int(i1), int(i2), int(io), mode, bool(has_weight), path_weight,
                       _path_shape(mode, mul1, mul2, mul_out)))

    out = []
    for i1, i2, io, mode, has_weight, path_weight, shape in parsed:
        ir1, ir2, ir_out = irreps_in1[i1].ir, irreps_in2[i2].ir, irreps_out[io].ir
        alpha = {"component": ir_out.dim, "norm": ir1.dim * ir2.dim, "none": 1}[irrep_normalization]
        if path_normalization == "element":
            x = sum(in1_var[p[0]] * in2_var[p[1]] * _num_elements(p[3], irreps_in1[p[0]].mul, irreps_in2[p[1]].mul)
                    for p in parsed if p[2] == io)
        elif path_normalization == "path":
            x = in1_var[i1] * in2_var[i2] * _num_elements(mode, irreps_in1[i1].mul, irreps_in2[i2].mul)
            x *= sum(1 for p in parsed if p[2] == io)
        else:
            x = 1
        if x > 0.0:
            alpha /= x
        alpha *= out_var[io] * path_weight
        out.append(Instruction(i1, i2, io, mode, has_weight, math.sqrt(alpha), shape))
    return out


class PathStep(NamedTuple):
    """One path of a :class:`Group`: where its columns sit in the group's ``A`` and how weights apply.

    Fields:
        ins (int): instruction index.
        k0, d3 (int): its columns ``[k0, k0 + d3)`` of the group's ``K`` axis (``d3`` = output irrep dim).
        template (str): ``'diag'`` (weights scale the multiplicity axis: uvu with mul2 = 1, uvv with mul1 = 1,
            uuu, uvuv, uvu<v), ``'mix'`` (a matrix over multiplicities: uvw, uuw, u<vw), ``'sum_v'`` /
            ``'sum_u'`` (uvu with mul2 > 1 / uvv with mul1 > 1).
        pairs: indices ``u * mul2 + v`` (u < v) taken from the multiplicity axis first, or None.
        a (int): size of the multiplicity axis the weights act on.
        mul_out (int): output multiplicity.
        w (int): the path's piece of the split flat weight (:attr:`TensorProductPlan.w_sizes`), -1 without weights.
    """

    ins: int
    k0: int
    d3: int
    template: str
    pairs: object
    a: int
    mul_out: int
    w: int


class Group(NamedTuple):
    """Paths sharing the input-1 irrep, the multiplicity pattern (``(u, v)`` outer or ``u == v``) and input 2.

    ``construct`` runs ``T = x2[Z*mul2, rows] @ cg`` (one 2-D MatMul) and ``A = x1[Z, mul1, d1] @ T[Z, d1, mul2*K]``
    (one BatchMatMul), then splits ``A`` along ``K`` into the paths.

    Fields:
        i_in1, mul1, d1: the input-1 block.
        kind: ``'outer'`` or ``'diag'``.
        i_in2: input-2 irrep used as source, or -1 for the whole ``x2`` (multiplicity-1 source).
        mul2, d2: shape of the input-2 source block.
        cg: ``(rows, d1 * K)`` float64 (CG blocks scaled by ``path_weight``); columns ``(i, k)``, or ``(k, i)``
            when ``kmajor``.
        K: number of columns.
        paths: tuple of :class:`PathStep` in column order.
        kmajor (bool): ``outer`` group with ``mul2 = 1``: ``A^T[Z, K, mul1] = T^T[Z, K, d1] @ x1^T[Z, d1, mul1]``,
            so that each path is a contiguous block of rows (cheap to split; shared mixing weights act on it
            as one 2-D MatMul) and is transposed to ``[Z, mul_out, d3]`` at the end.
        row_path: when every path is weighted ``diag`` with per-path weights ``[mul1]``: for each of the ``K``
            rows, the path it belongs to (weights are then applied to the whole group at once), else None.
        x1 (int): the group's piece of the split input 1 (:attr:`TensorProductPlan.x1_sizes`).
        x2 (int): its piece of the split input 2, or -1 for the whole input 2.
        d3s (tuple[int]): ``d3`` of every path (the sizes ``A`` is cut into).
    """

    i_in1: int
    mul1: int
    d1: int
    kind: str
    i_in2: int
    mul2: int
    d2: int
    cg: np.ndarray
    K: int
    paths: tuple
    kmajor: bool
    row_path: object
    x1: int
    x2: int
    d3s: tuple


class OutputStationary(NamedTuple):
    """``uvw`` paths with ``mul2 = 1``, evaluated output by output (weights contracted with ``x1`` first).

    ``construct``: for each path ``y_p = x1^T[Z*d1, mul1] @ W_p[mul1, w]`` (a 2-D MatMul), i.e. ``[Z, d1, w]``; ``T = x2 @ cg`` (one 2-D MatMul for all
    outputs, columns ``(k, row)``); then per output irrep one BatchMatMul ``T_o[Z, d3, sum d1] @ Y_o[Z, sum d1, w]``
    that also adds its paths, and a small transpose to e3nn's multiplicity-major ``[Z, w, d3]``.

    Fields:
        in_blocks: tuple of :class:`OutputStationaryBlock`.
        cg: ``(dim2, sum_o n_o * d3_o)`` float64.
        outs: tuple of ``(i_out, n, d3, mul_out, pieces)``; ``pieces`` are ``(block, path)`` positions whose
            ``[Z, d1, w]`` pieces are concatenated along ``d1`` (in ``cg``'s row order).
        sizes (tuple[int]): ``n * d3`` of every output (the columns of ``x2 @ cg``).
    """

    in_blocks: tuple
    cg: np.ndarray
    outs: tuple
    sizes: tuple


class OutputStationaryBlock(NamedTuple):
    """One input-1 irrep of :class:`OutputStationary`: ``(i_in1, mul1, d1, paths)``, its piece ``x1`` of the split
    input 1, and per path its weight piece ``ws`` and output multiplicity ``widths``."""

    i_in1: int
    mul1: int
    d1: int
    paths: tuple
    x1: int
    ws: tuple
    widths: tuple


class TensorProductPlan(NamedTuple):
    """Everything ``construct`` needs, as plain data.

    Fields:
        irreps_in1, irreps_in2, irreps_out: the three :class:`Irreps`.
        instructions: normalised :class:`Instruction` list.
        shared_weights (bool), weight_numel (int), weight_offsets: flat offset of each instruction's weights
            (None when it has none).
        groups: tuple of :class:`Group`.
        ostat: :class:`OutputStationary` or None.
        outputs: for each output irrep, its contributions ``('g', group, path)`` or ``('o', out_index)``.
        x1_sizes, x2_sizes (tuple[int]): the pieces inputs 1 and 2 are split into (the non-empty irreps).
        w_sizes (tuple[int]): the pieces of the flat weight (one per weighted instruction with weights).
        out_parts: per non-empty output irrep ``(mul, d, parts)``, ``parts`` the positions of its contributions in
            the list of results (every group's paths in order, then the output-stationary outputs).

    ``construct`` reads the execution fields directly (with the arrays as Tensors, see
    :func:`mindchemistry_e3.util._cell.plan_tensors`); :func:`execution_plan` drops the descriptive ones.
    """

    irreps_in1: Irreps
    irreps_in2: Irreps
    irreps_out: Irreps
    instructions: tuple
    shared_weights: bool
    weight_numel: int
    weight_offsets: tuple
    groups: tuple
    ostat: object
    outputs: tuple
    x1_sizes: tuple
    x2_sizes: tuple
    w_sizes: tuple
    out_parts: tuple

    def num_paths(self):
        """Number of instructions that produce something."""
        n = sum(len(g.paths) for g in self.groups)
        if self.ostat is not None:
            n += sum(len(b.paths) for b in self.ostat.in_blocks)
        return n


def _template(mode, mul1, mul2):
    if mode in ("uuu", "uvuv", "uvu<v"):
        return "diag"
    if mode == "uvu":
        return "diag" if mul2 == 1 else "sum_v"
    if mode == "uvv":
        return "diag" if mul1 == 1 else "sum_u"
    return "mix"


def _pair_index(mul):
    return np.array([u * mul + v for u in range(mul) for v in range(u + 1, mul)], dtype=np.int64)


def _cg_block(irreps_in1, irreps_in2, irreps_out, ins):
    """The CG block of an instruction scaled by its ``path_weight``, input-2 index first: ``(d2, d1, d3)``."""
    ir1, ir2, ir_out = irreps_in1[ins.i_in1].ir, irreps_in2[ins.i_in2].ir, irreps_out[ins.i_out].ir
    return np.transpose(wigner_3j(ir1.l, ir2.l, ir_out.l) * ins.path_weight, (1, 0, 2))


def build_plan(irreps_in1, irreps_in2, irreps_out, instructions, shared_weights=True, normalized=False,
               output_stationary=True, **norm):
    """Group the paths of a tensor product for batched evaluation.

    Args:
        irreps_in1, irreps_in2, irreps_out: the irreps (anything :class:`Irreps` accepts).
        instructions: e3nn-style tuples, or :class:`Instruction` records when ``normalized=True``.
        shared_weights (bool): one weight vector for the whole batch (True) or one per sample.
        normalized (bool): the instructions already carry their normalisation in ``path_weight``.
        output_stationary (bool): evaluate ``uvw`` paths with ``mul2 = 1`` output by output
            (:class:`OutputStationary`); otherwise they join the groups.
        **norm: ``in1_var, in2_var, out_var, irrep_normalization, path_normalization`` for
            :func:`normalize_instructions`.

    Returns:
        TensorProductPlan.

    >>> p = build_plan("4x1o", "0e + 1o", "4x1o + 4x1e", [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True)])
    >>> [g.K for g in p.groups], p.groups[0].cg.shape, p.groups[0].kmajor
    ([6], (4, 18), True)
    """
    irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    if normalized:
        instructions = [Instruction(*ins) for ins in instructions]
    else:
        instructions = normalize_instructions(irreps_in1, irreps_in2, irreps_out, instructions, **norm)

    offsets, off = [], 0
    for ins in instructions:
        if ins.has_weight:
            offsets.append(off)
            off += int(np.prod(ins.path_shape))
        else:
            offsets.append(None)
    weight_numel = off
    sl2 = irreps_in2.slices()

    def pieces(irreps):  # the non-empty irreps are the pieces an input is split into
        index, sizes = [], []
        for mul, ir in irreps:
            index.append(len(sizes) if mul * ir.dim > 0 else -1)
            if mul * ir.dim > 0:
                sizes.append(mul * ir.dim)
        return index, tuple(sizes)

    x1_piece, x1_sizes = pieces(irreps_in1)
    x2_piece, x2_sizes = pieces(irreps_in2)
    w_piece, w_sizes = [], []
    for ins, o in zip(instructions, offsets):
        n = int(np.prod(ins.path_shape))
        w_piece.append(len(w_sizes) if o is not None and n > 0 else -1)
        if o is not None and n > 0:
            w_sizes.append(n)

    groups, ostat_paths = {}, []
    for i, ins in enumerate(instructions):
        (mul1, _), (mul2, _), (mul_out, _) = (irreps_in1[ins.i_in1], irreps_in2[ins.i_in2], irreps_out[ins.i_out])
        if 0 in ins.path_shape or mul1 * mul2 * mul_out == 0 or ins.path_weight == 0:
            continue
        if output_stationary and ins.connection_mode == "uvw" and mul2 == 1:
            ostat_paths.append(i)
            continue
        kind = "diag" if ins.connection_mode in ("uuw", "uuu") and mul1 > 1 else "outer"
        src = -1 if mul2 == 1 else ins.i_in2
        groups.setdefault((ins.i_in1, kind, src), []).append(i)

    outputs = [[] for _ in irreps_out]
    plan_groups = []
    for (i1, kind, src), members in groups.items():
        mul1, ir1 = irreps_in1[i1]
        d1 = ir1.dim
        if src == -1:
            mul2, d2 = 1, irreps_in2.dim
        else:
            mul2, d2 = irreps_in2[src].mul, irreps_in2[src].ir.dim
        K = sum(irreps_out[instructions[i].i_out].ir.dim for i in members)
        cg = np.zeros((d2, d1, K))
        steps, k = [], 0
        for i in members:  # instruction order = flat weight order
            ins = instructions[i]
            ir2 = irreps_in2[ins.i_in2].ir
            mul_out, ir_out = irreps_out[ins.i_out]
            r0 = 0 if src != -1 else sl2[ins.i_in2].start
            cg[r0:r0 + ir2.dim, :, k:k + ir_out.dim] = _cg_block(irreps_in1, irreps_in2, irreps_out, ins)
            mode = ins.connection_mode
            pairs = _pair_index(mul1) if mode in ("uvu<v", "u<vw") else None
            a = len(pairs) if pairs is not None else (mul1 if kind == "diag" else mul1 * mul2)
            outputs[ins.i_out].append(("g", len(plan_groups), len(steps)))
            steps.append(PathStep(i, k, ir_out.dim, _template(mode, mul1, mul2), pairs, a, mul_out, w_piece[i]))
            k += ir_out.dim
        kmajor = kind == "outer" and mul2 == 1 and all(st.template in ("diag", "mix") for st in steps)
        row_path = None
        if kmajor and all(st.template == "diag" and instructions[st.ins].has_weight for st in steps):
            row_path = np.concatenate([np.full(st.d3, j) for j, st in enumerate(steps)]).astype(np.int64)
        cg = np.transpose(cg, (0, 2, 1)) if kmajor else cg
        plan_groups.append(Group(i1, mul1, d1, kind, src, mul2, d2, cg.reshape(d2, d1 * K), K, tuple(steps),
                                 kmajor, row_path, x1_piece[i1], -1 if src == -1 else x2_piece[src],
                                 tuple(st.d3 for st in steps)))

    ostat = None
    if ostat_paths:
        blocks = {}
        for i in ostat_paths:
            blocks.setdefault(instructions[i].i_in1, []).append(i)
        in_blocks = tuple(OutputStationaryBlock(i1, irreps_in1[i1].mul, irreps_in1[i1].ir.dim, tuple(paths),
                                                x1_piece[i1], tuple(w_piece[i] for i in paths),
                                                tuple(instructions[i].path_shape[2] for i in paths))
                          for i1, paths in blocks.items())
        where = {}
        for b, blk in enumerate(in_blocks):
            for p, i in enumerate(blk.paths):
                where[i] = (b, p)
        by_out = {}
        for i in ostat_paths:
            by_out.setdefault(instructions[i].i_out, []).append(i)
        cols, outs = [], []
        for io in sorted(by_out):
            mul_out, ir_out = irreps_out[io]
            paths = by_out[io]
            n = sum(irreps_in1[instructions[i].i_in1].ir.dim for i in paths)
            c = np.zeros((irreps_in2.dim, n, ir_out.dim))
            r = 0
            for i in paths:
                ins = instructions[i]
                d1, d2 = irreps_in1[ins.i_in1].ir.dim, irreps_in2[ins.i_in2].ir.dim
                s2 = sl2[ins.i_in2].start
                c[s2:s2 + d2, r:r + d1, :] = _cg_block(irreps_in1, irreps_in2, irreps_out, ins)
                r += d1
            cols.append(np.transpose(c, (0, 2, 1)).reshape(irreps_in2.dim, ir_out.dim * n))  # columns (k, row)
            outputs[io].append(("o", len(outs)))
            outs.append((io, n, ir_out.dim, mul_out, tuple(where[i] for i in paths)))
        ostat = OutputStationary(in_blocks, np.concatenate(cols, axis=1), tuple(outs),
                                 tuple(n * d3 for _, n, d3, _, _ in outs))

    flat, n = {}, 0  # positions of the results: every group's paths, then the output-stationary outputs
    for gi, g in enumerate(plan_groups):
        for pi in range(len(g.paths)):
            flat[("g", gi, pi)] = n
            n += 1
    for oi in range(len(ostat.outs) if ostat is not None else 0):
        flat[("o", oi)] = n
        n += 1
    out_parts = tuple((mul, ir.dim, tuple(flat[tuple(p)] for p in parts))
                      for (mul, ir), parts in zip(irreps_out, outputs) if mul * ir.dim > 0)
    return TensorProductPlan(irreps_in1, irreps_in2, irreps_out, tuple(instructions), bool(shared_weights),
                             weight_numel, tuple(offsets), tuple(plan_groups), ostat,
                             tuple(tuple(o) for o in outputs), x1_sizes, x2_sizes, tuple(w_sizes), out_parts)


def execution_plan(plan):
    """The plan with only what ``construct`` reads (the irreps and instructions dropped), ready for
    :func:`mindchemistry_e3.util._cell.plan_tensors`."""
    return plan._replace(irreps_in1=None, irreps_in2=None, irreps_out=None, instructions=None, weight_offsets=None,
                         outputs=None)


def scalar_stack_terms(plan):
    r"""The product as a linear map of the outer product ``x1 (x) x2`` (:class:`~.._stacked_np.StackTerms`) when
    every path is a weighted ``uvw`` with a scalar second input (``l2 = 0``: NequIP's species self-connection) and the
    weights are shared; the feature of slot ``(u, v)`` of component ``k`` is ``x1[u, k] x2[v]`` (column
    ``(i1, u, k) * dim2 + (i2, v)`` of the flattened outer product). None when the paths are not all of that kind.

    >>> p = build_plan("4x0e + 2x1o", "3x0e", "2x0e + 2x1o", [(0, 0, 0, "uvw", True), (1, 0, 1, "uvw", True)])
    >>> t = scalar_stack_terms(p)
    >>> t.n_features, t.weight_numel
    (30, 36)
    """
    if not plan.shared_weights or not plan.instructions:
        return None
    in1, in2, out = plan.irreps_in1, plan.irreps_in2, plan.irreps_out
    if not all(ins.connection_mode == "uvw" and ins.has_weight and in2[ins.i_in2].ir.l == 0
               for ins in plan.instructions):
        return None
    sl1, sl2, dim2 = in1.slices(), in2.slices(), in2.dim
    terms = []
    for ins, off in zip(plan.instructions, plan.weight_offsets):
        (mul1, ir1), mul2, mul_out = in1[ins.i_in1], in2[ins.i_in2].mul, out[ins.i_out].mul
        d = ir1.dim
        cg = wigner_3j(ir1.l, 0, ir1.l)[:, 0, :]  # diagonal: 1 / sqrt(2 l + 1)
        u, v, k = np.arange(mul1)[:, None, None], np.arange(mul2)[None, :, None], np.arange(d)[None, None, :]
        features = ((sl1[ins.i_in1].start + u * d + k) * dim2 + sl2[ins.i_in2].start + v).reshape(mul1 * mul2, d)
        weights = off + np.arange(mul1 * mul2 * mul_out).reshape(mul1 * mul2, mul_out)
        terms.append(StackTerm(ins.i_out, d, features, weights, ins.path_weight * np.diag(cg)))
    out_blocks = tuple((sl.start, mul, ir.dim) for sl, (mul, ir) in zip(out.slices(), out))
    return StackTerms(in1.dim * dim2, plan.weight_numel, out_blocks, tuple(terms))


def scalar_stacked_plan(plan):
    r"""The :class:`~.._stacked_np.StackedPlan` of :func:`scalar_stack_terms` (one BatchMatMul over the output
    components, :mod:`~mindchemistry_e3.o3._stacked_np`), or None when it does not apply.

    >>> p = build_plan("4x0e + 2x1o", "3x0e", "2x0e + 2x1o", [(0, 0, 0, "uvw", True), (1, 0, 1, "uvw", True)])
    >>> sp = scalar_stacked_plan(p)
    >>> sp.components, sp.slots, sp.chunk
    (4, 12, 2)
    """
    t = scalar_stack_terms(plan)
    return None if t is None else stacked_plan(t.n_features, t.out_blocks, t.terms)


# ------------------------------------------------------------------------------------------------------------
# numpy execution (mirrors the MindSpore construct) and an independent reference
# ------------------------------------------------------------------------------------------------------------
def _weight_chunks(plan, weight, z):
    """The weights of each instruction, ``[numel_p]`` (shared) or ``[Z, numel_p]``; None when unweighted."""
    chunks = []
    for ins, off in zip(plan.instructions, plan.weight_offsets):
        if off is None:
            chunks.append(None)
        else:
            chunks.append(weight[..., off:off + int(np.prod(ins.path_shape))])
    return chunks


def _apply_path(plan, g, step, a, wch, z):
    """Weights of one path on its columns ``a [Z, mul1*mul2 (or mul), d3]`` -> ``[Z, mul_out, d3]``."""
    ins = plan.instructions[step.ins]
    w = wch[step.ins]
    shared = plan.shared_weights
    if step.pairs is not None:
        a = a[:, step.pairs]
    if step.template == "diag":
        if w is None:
            return a
        return a * (w.reshape(step.a, 1) if shared else w.reshape(z, step.a, 1))
    if step.template in ("sum_v", "sum_u"):
        a = a.reshape(z, g.mul1, g.mul2, step.d3)
        if w is not None:
            a = a * (w.reshape(g.mul1, g.mul2, 1) if shared else w.reshape(z, g.mul1, g.mul2, 1))
        return a.sum(axis=2 if step.template == "sum_v" else 1)
    # mix: [Z, a, d3] with W [a, w]
    if w is None:  # uuw without weights: sum over u
        return a.sum(axis=1, keepdims=True)
    if shared:
        r = a.transpose(0, 2, 1).reshape(z * step.d3, step.a) @ w.reshape(step.a, step.mul_out)
        return r.reshape(z, step.d3, step.mul_out).transpose(0, 2, 1)
    return w.reshape(z, step.a, step.mul_out).transpose(0, 2, 1) @ a


def _apply_path_kmajor(plan, st, at, wch, z):
    """Weights of one path on its rows ``at [Z, d3, mul1]`` (k-major) -> ``[Z, mul_out, d3]``."""
    w = wch[st.ins]
    if st.template == "diag":
        r = at if w is None else at * (w.reshape(1, st.a) if plan.shared_weights else w.reshape(z, 1, st.a))
        return r.transpose(0, 2, 1)
    if w is None:  # uuw without weights (mul 1): sum over u
        return at.sum(axis=2, keepdims=True).transpose(0, 2, 1)
    if plan.shared_weights:
        r = at.reshape(z * st.d3, st.a) @ w.reshape(st.a, st.mul_out)
        return r.reshape(z, st.d3, st.mul_out).transpose(0, 2, 1)
    return (at @ w.reshape(z, st.a, st.mul_out)).transpose(0, 2, 1)


def execute_plan(plan, x1, x2, weight=None):
    """Evaluate a plan in numpy; ``x1 [Z, dim1]``, ``x2 [Z, dim2]``, weight ``[numel]`` or ``[Z, numel]``.

    >>> p = build_plan("0e", "0e", "0e", [(0, 0, 0, "uuu", False)])
    >>> execute_plan(p, np.ones((1, 1)), np.full((1, 1), 2.0))
    array([[2.]])
    """
    z = x1.shape[0]
    sl1, sl2 = plan.irreps_in1.slices(), plan.irreps_in2.slices()
    wch = _weight_chunks(plan, weight, z) if plan.weight_numel else [None] * len(plan.instructions)
    results = []
    for g in plan.groups:
        x1g = x1[:, sl1[g.i_in1]].reshape(z, g.mul1, g.d1)
        x2g = x2 if g.i_in2 < 0 else x2[:, sl2[g.i_in2]]
        t = x2g.reshape(z * g.mul2, g.d2) @ g.cg  # [Z*mul2, d1*K]
        if g.kmajor:
            at = t.reshape(z, g.K, g.d1) @ x1g.transpose(0, 2, 1)  # [Z, K, mul1]
            if g.row_path is not None:
                wst = np.stack([wch[st.ins] for st in g.paths], axis=-2)  # [(Z,) P, mul1]
                at = at * wst[..., g.row_path, :]
                results.append([at[:, st.k0:st.k0 + st.d3].transpose(0, 2, 1) for st in g.paths])
            else:
                results.append([_apply_path_kmajor(plan, st, at[:, st.k0:st.k0 + st.d3], wch, z) for st in g.paths])
            continue
        if g.kind == "diag":
            a_all = (x1g.reshape(z * g.mul1, 1, g.d1) @ t.reshape(z * g.mul1, g.d1, g.K)).reshape(z, g.mul1, g.K)
        elif g.mul2 == 1:
            a_all = x1g @ t.reshape(z, g.d1, g.K)
        else:
            t = t.reshape(z, g.mul2, g.d1, g.K).transpose(0, 2, 1, 3).reshape(z, g.d1, g.mul2 * g.K)
            a_all = (x1g @ t).reshape(z, g.mul1 * g.mul2, g.K)
        results.append([_apply_path(plan, g, st, a_all[:, :, st.k0:st.k0 + st.d3], wch, z) for st in g.paths])
    os_out = []
    if plan.ostat is not None:
        os_ = plan.ostat
        ys = []
        for i1, mul1, d1, paths, _, _, _ in os_.in_blocks:
            wcat = np.concatenate([wch[i].reshape(wch[i].shape[:-1] + (mul1, -1)) for i in paths], axis=-1)
            xt = x1[:, sl1[i1]].reshape(z, mul1, d1).transpose(0, 2, 1)  # [Z, d1, u]
            y = xt.reshape(z * d1, mul1) @ wcat if plan.shared_weights else xt @ wcat  # [Z*d1 | Z, d1, sum w]
            y = y.reshape(z, d1, -1)
            sizes = np.cumsum([plan.instructions[i].path_shape[2] for i in paths])[:-1]
            ys.append(np.split(y, sizes, axis=2))
        t_all = x2 @ os_.cg
        c0 = 0
        for io, n, d3, mul_out, pieces in os_.outs:
            yo = np.concatenate([ys[b][p] for b, p in pieces], axis=1)  # [Z, n, w]
            to = t_all[:, c0:c0 + n * d3].reshape(z, d3, n)
            c0 += n * d3
            os_out.append((to @ yo).transpose(0, 2, 1))
    pieces = []
    for (mul, ir), parts in zip(plan.irreps_out, plan.outputs):
        if mul * ir.dim == 0:
            continue
        if not parts:
            pieces.append(np.zeros((z, mul * ir.dim), x1.dtype))
            continue
        acc = sum(results[p[1]][p[2]] if p[0] == "g" else os_out[p[1]] for p in parts)
        pieces.append(acc.reshape(z, mul * ir.dim))
    if not pieces:
        return np.zeros((z, 0), x1.dtype)
    return np.concatenate(pieces, axis=1)


def naive_tensor_product(irreps_in1, irreps_in2, irreps_out, instructions, x1, x2, weight=None,
                         shared_weights=True):
    """Reference: one einsum per normalised instruction (e3nn's formulas), numpy float64.

    >>> ins = normalize_instructions("1o", "1o", "0e", [(0, 0, 0, "uuu", False)])
    >>> round(float(naive_tensor_product("1o", "1o", "0e", ins, np.eye(3)[:1], np.eye(3)[:1])[0, 0]), 12)
    0.57735026919
    """
    irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    z = x1.shape[0]
    out = [np.zeros((z, mul, ir.dim)) for mul, ir in irreps_out]
    off = 0
    for ins in instructions:
        (m1, ir1), (m2, ir2), (mo, iro) = irreps_in1[ins.i_in1], irreps_in2[ins.i_in2], irreps_out[ins.i_out]
        n = int(np.prod(ins.path_shape))
        if ins.has_weight:
            w = weight[..., off:off + n]
            w = w.reshape(ins.path_shape) if shared_weights else w.reshape((z,) + tuple(ins.path_shape))
            off += n
        else:
            w = None
        if m1 * m2 * mo == 0:
            continue
        a = x1[:, irreps_in1.slices()[ins.i_in1]].reshape(z, m1, ir1.dim)
        b = x2[:, irreps_in2.slices()[ins.i_in2]].reshape(z, m2, ir2.dim)
        c = wigner_3j(ir1.l, ir2.l, iro.l)
        zs = "" if shared_weights else "z"
        mode = ins.connection_mode
        if mode in ("uvu<v", "u<vw"):
            iu, iv = np.triu_indices(m1, 1)
            xx = np.einsum("zui,zvj->zuvij", a, b)[:, iu, iv]  # zqij
            if mode == "uvu<v":
                r = np.einsum("zqij,ijk->zqk", xx, c)
                r = r if w is None else r * (w[..., None] if shared_weights else w[..., None])
            else:
                r = np.einsum(f"{zs}qw,zqij,ijk->zwk", w, xx, c)
        else:
            spec = {"uvw": ("zui,zvj,ijk", "uvw", "zwk"), "uvu": ("zui,zvj,ijk", "uv", "zuk"),
                    "uvv": ("zui,zvj,ijk", "uv", "zvk"), "uuw": ("zui,zuj,ijk", "uw", "zwk"),
                    "uuu": ("zui,zuj,ijk", "u", "zuk"), "uvuv": ("zui,zvj,ijk", "uv", "zuvk")}[mode]
            if w is None:
                r = np.einsum(f"{spec[0]}->{spec[2].replace('w', '')}", a, b, c)
            else:
                r = np.einsum(f"{spec[0]},{zs}{spec[1]}->{spec[2]}", a, b, c, w)
        out[ins.i_out] += ins.path_weight * r.reshape(z, mo, iro.dim)
    pieces = [o.reshape(z, -1) for o in out]
    return np.concatenate(pieces, axis=1) if pieces else np.zeros((z, 0))
