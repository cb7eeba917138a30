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
from ._instruction import Instruction

__all__ = [
    "CONNECTION_MODES",
    "normalize_instructions",
    "build_plan",
    "TensorProductPlan",
    "Group",
    "SubGroup",
    "execute_plan",
    "naive_tensor_product",
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


class SubGroup(NamedTuple):
    """Paths of one group that share how their weights are applied (one step of ``construct``).

    Fields:
        template: ``'diag'`` (weights multiply the multiplicity axis elementwise: uvu with mul2 = 1, uvv with
            mul1 = 1, uuu, uvuv, uvu<v), ``'mix'`` (a matrix over multiplicities: uvw, uuw, u<vw),
            ``'sum_v'`` / ``'sum_u'`` (uvu with mul2 > 1 / uvv with mul1 > 1: weighted sum over one axis).
        k0, k1: the range of the group's column axis ``K`` these paths own.
        pairs: indices ``u * mul2 + v`` (u < v) picked from the multiplicity axis first, or None.
        mul_out: the output multiplicity.
        weight_index: int array of indices into the flat weights extended by a trailing 1 (index
            ``weight_numel`` means "no weight"). Shape ``(a, K_sub)`` for diag (a = the multiplicity axis);
            ``(K_sub, a, mul_out)`` for mix with shared weights; ``(n_paths, mul_out, a)`` for mix with
            per-sample weights; ``(mul1, mul2, K_sub)`` for sum_v / sum_u. None when no path is weighted.
        path_k: for each path, ``(k0, k1)`` inside the subgroup (used by per-sample mix).
        sum_matrix: ``(K_sub, K_red)`` 0/1 matrix that adds paths into the same output, or None.
        segments: ``(k0, d_out, i_out)`` per output piece in the (reduced) subgroup result.
    """

    template: str
    k0: int
    k1: int
    pairs: object
    mul_out: int
    weight_index: object
    path_k: tuple
    sum_matrix: object
    segments: tuple


class Group(NamedTuple):
    """Paths that share input-1 irrep ``i_in1``, how the multiplicities meet, and the input-2 source.

    Fields:
        i_in1, x1_slice (start, stop), mul1, d1: the input-1 block ``[Z, mul1, d1]``.
        kind: ``'outer'`` (all ``(u, v)`` pairs) or ``'diag'`` (``u == v``).
        x2_slice: ``None`` for the mul-1 source (the whole ``x2``, CG rows of other irreps zero) or
            ``(start, stop)`` of one input-2 block; ``mul2``, ``d2`` its shape.
        cg: ``(rows, d1 * K)`` float64: the CG blocks of every path (scaled by its ``path_weight``), path ``p``
            in columns ``(i, k)`` with ``k`` in the path's range of ``K``.
        K: total output-irrep components of the group's paths.
        subgroups: tuple of :class:`SubGroup`.
    """

    i_in1: int
    x1_slice: tuple
    mul1: int
    d1: int
    kind: str
    x2_slice: object
    mul2: int
    d2: int
    cg: np.ndarray
    K: int
    subgroups: tuple


class TensorProductPlan(NamedTuple):
    """Everything ``construct`` needs, as plain data.

    Fields:
        irreps_in1, irreps_in2, irreps_out: the three :class:`Irreps`.
        instructions: normalised :class:`Instruction` list.
        shared_weights (bool), weight_numel (int), weight_offsets: flat offset of each instruction's weights
            (None when it has none).
        groups: tuple of :class:`Group`.
        outputs: for each output irrep, the ``(group, subgroup, k0, d_out)`` pieces to add (empty: zeros).
    """

    irreps_in1: Irreps
    irreps_in2: Irreps
    irreps_out: Irreps
    instructions: tuple
    shared_weights: bool
    weight_numel: int
    weight_offsets: tuple
    groups: tuple
    outputs: tuple

    def num_paths(self):
        """Number of instructions that produce something."""
        return sum(len(sg.path_k) for g in self.groups for sg in g.subgroups)


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


def _weight_local(mode, mul1, mul2, mul_out):
    """Index array of a path's flat weights, laid out as the template consumes it."""
    n = int(np.prod(_path_shape(mode, mul1, mul2, mul_out)))
    idx = np.arange(n, dtype=np.int64)
    if mode == "uvw":
        return idx.reshape(mul1 * mul2, mul_out)  # (a, w)
    if mode in ("uuw", "u<vw"):
        return idx.reshape(-1, mul_out)  # (a, w)
    if mode in ("uvu", "uvv", "uvuv"):
        return idx.reshape(mul1, mul2)
    return idx  # uuu (u,), uvu<v (q,)


def build_plan(irreps_in1, irreps_in2, irreps_out, instructions, shared_weights=True, normalized=False, **norm):
    """Group the paths of a tensor product for batched evaluation.

    Args:
        irreps_in1, irreps_in2, irreps_out: the irreps (anything :class:`Irreps` accepts).
        instructions: e3nn-style tuples, or :class:`Instruction` records when ``normalized=True``.
        shared_weights (bool): one weight vector for the whole batch (True) or one per sample.
        normalized (bool): the instructions already carry their normalisation in ``path_weight``.
        **norm: ``in1_var, in2_var, out_var, irrep_normalization, path_normalization`` for
            :func:`normalize_instructions`.

    Returns:
        TensorProductPlan.

    >>> p = build_plan("4x1o", "0e + 1o", "4x1o", [(0, 0, 0, "uvu", True), (0, 1, 0, "uvu", True)])
    >>> [g.K for g in p.groups], p.groups[0].cg.shape
    ([6], (4, 18))
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
    ones_index = weight_numel  # the appended constant 1

    sl1, sl2, slo = irreps_in1.slices(), irreps_in2.slices(), irreps_out.slices()
    all_mul1_x2 = irreps_in2.dim

    # --- group the live paths --------------------------------------------------------------------------------
    groups = {}
    for i, ins in enumerate(instructions):
        (mul1, ir1), (mul2, ir2), (mul_out, ir_out) = (irreps_in1[ins.i_in1], irreps_in2[ins.i_in2],
                                                      irreps_out[ins.i_out])
        if 0 in ins.path_shape or mul1 * mul2 * mul_out == 0 or ins.path_weight == 0:
            continue
        kind = "diag" if ins.connection_mode in ("uuw", "uuu") and mul1 > 1 else "outer"
        src = "ones" if mul2 == 1 else ins.i_in2
        groups.setdefault((ins.i_in1, kind, src), []).append(i)

    out_pieces = [[] for _ in irreps_out]
    plan_groups = []
    for (i1, kind, src), members in groups.items():
        mul1, ir1 = irreps_in1[i1]
        d1 = ir1.dim
        if src == "ones":
            x2_slice, mul2, d2, rows = None, 1, all_mul1_x2, all_mul1_x2
        else:
            x2_slice = (sl2[src].start, sl2[src].stop)
            mul2, d2 = irreps_in2[src].mul, irreps_in2[src].ir.dim
            rows = d2
        # order the paths: by template, then output multiplicity, then output index
        keyed = []
        for i in members:
            ins = instructions[i]
            t = _template(ins.connection_mode, mul1, irreps_in2[ins.i_in2].mul)
            pairs = ins.connection_mode in ("uvu<v", "u<vw")
            keyed.append(((t, pairs, irreps_out[ins.i_out].mul), ins.i_out, i))
        keyed.sort(key=lambda x: (x[0], x[1], x[2]))
        K = sum(irreps_out[instructions[i].i_out].ir.dim for _, _, i in keyed)
        cg = np.zeros((rows, d1, K))
        subgroups = []
        k = 0
        by_key = {}
        for key, _, i in keyed:
            by_key.setdefault(key, []).append(i)
        for (t, pairs, mul_out), paths in by_key.items():
            k_start = k
            path_k = []
            for i in paths:
                ins = instructions[i]
                ir2 = irreps_in2[ins.i_in2].ir
                d3 = irreps_out[ins.i_out].ir.dim
                block = wigner_3j(ir1.l, ir2.l, irreps_out[ins.i_out].ir.l) * ins.path_weight  # (d1, d2, d3)
                r0 = 0 if x2_slice is not None else sl2[ins.i_in2].start
                cg[r0:r0 + ir2.dim, :, k:k + d3] = np.transpose(block, (1, 0, 2))
                path_k.append((k - k_start, k - k_start + d3))
                k += d3
            k_sub = k - k_start
            a = mul1 if kind == "diag" else mul1 * mul2
            pair_idx = _pair_index(mul1) if pairs else None
            if pairs:
                a = len(pair_idx)
            weighted = any(instructions[i].has_weight for i in paths)
            widx = None
            if weighted:
                if t == "diag":
                    widx = np.full((a, k_sub), ones_index, dtype=np.int64)
                    for i, (p0, p1) in zip(paths, path_k):
                        ins = instructions[i]
                        if ins.has_weight:
                            loc = _weight_local(ins.connection_mode, mul1, mul2, mul_out).reshape(-1)
                            widx[:, p0:p1] = (offsets[i] + loc)[:, None]
                elif t in ("sum_v", "sum_u"):
                    widx = np.full((mul1, mul2, k_sub), ones_index, dtype=np.int64)
                    for i, (p0, p1) in zip(paths, path_k):
                        ins = instructions[i]
                        if ins.has_weight:
                            loc = _weight_local(ins.connection_mode, mul1, mul2, mul_out)
                            widx[:, :, p0:p1] = (offsets[i] + loc)[:, :, None]
                else:  # mix
                    locs = []
                    for i in paths:
                        ins = instructions[i]
                        if ins.has_weight:
                            locs.append(offsets[i] + _weight_local(ins.connection_mode, mul1, mul2, mul_out))
                        else:  # uuw without weight: sum over u into mul_out == 1
                            locs.append(np.full((a, mul_out), ones_index, dtype=np.int64))
                    if shared_weights:
                        widx = np.zeros((k_sub, a, mul_out), dtype=np.int64)
                        for loc, (p0, p1) in zip(locs, path_k):
                            widx[p0:p1] = loc[None]
                    else:
                        widx = np.stack([loc.T for loc in locs])  # (n_paths, w, a)
            elif t == "mix":  # uuw without weights only
                widx = np.full((len(paths), mul_out, a) if not shared_weights else (k_sub, a, mul_out),
                               ones_index, dtype=np.int64)
            # paths of this subgroup into the same output are added by a 0/1 matrix
            outs = [instructions[i].i_out for i in paths]
            sum_matrix = None
            if len(set(outs)) < len(outs):
                uniq = sorted(set(outs))
                red_k, kk = {}, 0
                for io in uniq:
                    red_k[io] = kk
                    kk += irreps_out[io].ir.dim
                sum_matrix = np.zeros((k_sub, kk))
                for io, (p0, p1) in zip(outs, path_k):
                    sum_matrix[p0:p1, red_k[io]:red_k[io] + (p1 - p0)] += np.eye(p1 - p0)
                segments = tuple((red_k[io], irreps_out[io].ir.dim, io) for io in uniq)
            else:
                segments = tuple((p0, p1 - p0, io) for io, (p0, p1) in zip(outs, path_k))
            sg_index = len(subgroups)
            for s0, dd, io in segments:
                out_pieces[io].append((len(plan_groups), sg_index, s0, dd))
            subgroups.append(SubGroup(t, k_start, k, pair_idx, mul_out, widx, tuple(path_k), sum_matrix, segments))
        plan_groups.append(Group(i1, (sl1[i1].start, sl1[i1].stop), mul1, d1, kind, x2_slice, mul2, d2,
                                 cg.reshape(rows, d1 * K), K, tuple(subgroups)))

    return TensorProductPlan(irreps_in1, irreps_in2, irreps_out, tuple(instructions), bool(shared_weights),
                             weight_numel, tuple(offsets), tuple(plan_groups),
                             tuple(tuple(p) for p in out_pieces))


# ------------------------------------------------------------------------------------------------------------
# numpy execution (mirrors the MindSpore construct) and an independent reference
# ------------------------------------------------------------------------------------------------------------
def _group_columns(plan, g, x1, x2):
    """Stages 1 and 2: ``A[z, a, K]`` for group ``g`` (a = the multiplicity axis before weights)."""
    z = x1.shape[0]
    x1g = x1[:, g.x1_slice[0]:g.x1_slice[1]].reshape(z, g.mul1, g.d1)
    x2g = x2 if g.x2_slice is None else x2[:, g.x2_slice[0]:g.x2_slice[1]]
    t = x2g.reshape(z * g.mul2, -1) @ g.cg  # [Z*mul2, d1*K]
    if g.kind == "diag":
        t = t.reshape(z * g.mul1, g.d1, g.K)
        a = x1g.reshape(z * g.mul1, 1, g.d1) @ t
        return a.reshape(z, g.mul1, g.K)
    if g.mul2 == 1:
        return x1g @ t.reshape(z, g.d1, g.K)
    t = t.reshape(z, g.mul2, g.d1, g.K).transpose(0, 2, 1, 3).reshape(z, g.d1, g.mul2 * g.K)
    return (x1g @ t).reshape(z, g.mul1 * g.mul2, g.K)


def execute_plan(plan, x1, x2, weight=None):
    """Evaluate a plan in numpy; ``x1 [Z, dim1]``, ``x2 [Z, dim2]``, weight ``[numel]`` or ``[Z, numel]``.

    >>> p = build_plan("0e", "0e", "0e", [(0, 0, 0, "uuu", False)])
    >>> execute_plan(p, np.ones((1, 1)), np.full((1, 1), 2.0))
    array([[2.]])
    """
    z = x1.shape[0]
    if plan.weight_numel:
        w = np.asarray(weight, dtype=x1.dtype)
        w = np.concatenate([w, np.ones(w.shape[:-1] + (1,), w.dtype)], axis=-1)
    else:
        w = np.ones((1,) if plan.shared_weights else (z, 1), x1.dtype)
    results = []
    for g in plan.groups:
        a_all = _group_columns(plan, g, x1, x2)
        res = []
        for sg in g.subgroups:
            a = a_all[:, :, sg.k0:sg.k1]
            if sg.pairs is not None:
                a = a[:, sg.pairs]
            if sg.template == "diag":
                r = a if sg.weight_index is None else a * w[..., sg.weight_index]
            elif sg.template in ("sum_v", "sum_u"):
                a = a.reshape(z, g.mul1, g.mul2, -1)
                if sg.weight_index is not None:
                    a = a * w[..., sg.weight_index]
                r = a.sum(axis=2 if sg.template == "sum_v" else 1)
            elif plan.shared_weights:
                wk = w[sg.weight_index]  # (K, a, w)
                r = np.matmul(a.transpose(2, 0, 1), wk).transpose(1, 2, 0)
            else:
                r = np.concatenate([w[:, idx] @ a[:, :, p0:p1]
                                    for idx, (p0, p1) in zip(sg.weight_index, sg.path_k)], axis=2)
            if sg.sum_matrix is not None:
                r = (r.reshape(-1, r.shape[2]) @ sg.sum_matrix).reshape(z, sg.mul_out, -1)
            res.append(r)
        results.append(res)
    pieces = []
    for (mul, ir), parts in zip(plan.irreps_out, plan.outputs):
        if mul * ir.dim == 0:
            continue
        if not parts:
            pieces.append(np.zeros((z, mul * ir.dim), x1.dtype))
            continue
        acc = sum(results[gi][si][:, :, k0:k0 + d] for gi, si, k0, d in parts)
        pieces.append(acc.reshape(z, mul * ir.dim))
    if not pieces:
        return np.zeros((z, 0), x1.dtype)
    return np.concatenate(pieces, axis=1)


def naive_tensor_product(irreps_in1, irreps_in2, irreps_out, instructions, x1, x2, weight=None,
                         shared_weights=True):
    """Reference: one einsum per normalised instruction (e3nn's formulas), numpy float64.

    >>> ins = normalize_instructions("1o", "1o", "0e", [(0, 0, 0, "uuu", False)])
    >>> float(naive_tensor_product("1o", "1o", "0e", ins, np.eye(3)[:1], np.eye(3)[:1])[0, 0])
    0.5773502691896257
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
