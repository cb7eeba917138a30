r"""Numpy plan of :class:`~mindchemistry_e3.o3.Linear` (imports no MindSpore).

What the layer computes (e3nn 0.6.0 semantics). For every instruction :math:`(i_{in}, i_{out})` between two
blocks of the same irrep :math:`(l, p)`, with input block :math:`x_{z,x,u,m}` (sample :math:`z`, optional channel
:math:`x < f_{in}`, multiplicity :math:`u`, component :math:`m`),

.. math::

    y_{z,y,w,m} \mathrel{+}= \alpha_{i}\, \sum_{x,u} W^{(i)}_{x,y,u,w}\, x_{z,x,u,m},
    \qquad \alpha_i = \Big(f_{in} \sum_{j \to i_{out}} \mathrm{mul}_{in}(j)\Big)^{-1/2}

(``path_normalization='element'``; ``'path'`` counts each path with its own fan-in instead), plus an optional
bias on scalar outputs. The flat weight vector holds the instructions' :math:`W^{(i)}` one after another,
each row-major of shape ``(mul_in, mul_out)`` (``(f_in, f_out, weight_numel)`` overall when ``f_in`` is set),
exactly e3nn's layout, so e3nn weights load unchanged.

How it is lowered. Instructions are grouped by irrep: a group gathers every input block and every output block
of one irrep :math:`(l,p)` that take part in an instruction, and its weights form one block matrix
:math:`W_g` of shape ``(K, M)`` with ``K = f_in * sum(mul_in)`` rows and ``M = f_out * sum(mul_out)`` columns
(zero where no instruction links two blocks; the path weights :math:`\alpha` are folded into it). Then

* shared weights: ``X_g`` of shape ``(B * d, K)`` (the components ``m`` moved next to the batch by one
  transpose per block, none for scalars) times ``W_g`` -- one 2-D MatMul per irrep;
* per-sample weights: ``W_g`` of shape ``(B, K, M)`` and the input in its natural layout ``(B, K, d)``, one
  ``BatchMatMul(transpose_a=True)`` per irrep giving ``(B, M, d)`` -- no transpose at all.

``W_g`` is read out of the flat weight either by a plain slice (one instruction, no channels) or by one gather
with the integer table :attr:`GroupPlan.weight_index` (entries ``== size`` point at an appended zero). An output
block may receive several groups only when an instruction is repeated; those contributions are summed.

>>> plan = linear_plan("4x0e + 3x1o", "2x0e + 3x1o")
>>> plan.weight_numel, len(plan.groups), [(g.K, g.M, g.d) for g in plan.groups]
(17, 2, [(4, 2, 1), (3, 3, 3)])
"""
import collections

import numpy as np

from ._irreps import Irreps
from ._stacked_np import StackTerm, StackTerms, stacked_plan

Instruction = collections.namedtuple("Instruction", ["i_in", "i_out", "path_shape", "path_weight"])
Instruction.__doc__ = """One path of a :class:`Linear`: input block ``i_in`` (``-1`` for a bias) to output block ``i_out``.

``path_shape`` is ``(mul_in, mul_out)`` (``(dim,)`` for a bias); ``path_weight`` the normalisation factor.

>>> Instruction(0, 1, (4, 2), 0.5).path_shape
(4, 2)
"""

GroupPlan = collections.namedtuple(
    "GroupPlan",
    ["ir", "d", "in_blocks", "out_blocks", "K", "M", "mul_in", "mul_out", "weight_index", "simple", "pieces",
     "offset", "path_weight", "scaled"],
)
GroupPlan.__doc__ = """All paths of one irrep, executed as one MatMul.

``in_blocks``: ``(start, mul)`` of each input block in the input's last axis. ``out_blocks``: ``(i_out, col, mul)``,
``col`` the block's first column among the group's ``mul_out`` columns. ``weight_index``: ``(K, M)`` indices into the
scaled flat weight (``f_in * f_out * weight_numel`` entries, then one zero). ``simple``: ``(offset, path_weight)``
when the block matrix is one instruction's slice of the flat weight (no channels), else ``None``. Execution
fields: ``pieces`` (the input blocks' positions among the non-empty input blocks), ``offset`` (``simple``'s offset,
-1 when the weights are gathered with ``weight_index``), ``path_weight`` (``[1]`` array, the factor a per-sample
slice still needs) and ``scaled`` (that factor is not one).

>>> g = linear_plan("2x1o", "3x1o").groups[0]
>>> (g.K, g.M, g.d, g.simple)
(2, 3, 3, (0, 0.7071067811865476))
"""

PATH_NORMALIZATIONS = ("element", "path")


class LinearPlan:
    """The full plan of a :class:`Linear`: instructions, weight layout, groups and output assembly.

    Attributes:
        irreps_in, irreps_out (Irreps): the representations.
        f_in, f_out (int or None): channel counts.
        instructions (list[Instruction]): weighted paths first, then biases (``i_in == -1``).
        weight_numel, bias_numel (int): sizes of the flat weight and bias.
        groups (tuple[GroupPlan]): one MatMul each.
        out_sources (tuple): per output block, ``None`` (zero) or a tuple of ``(group, col)`` to sum.
        weight_scale (ndarray): the path weight of each flat weight entry, shape ``(f_in*f_out*weight_numel,)``.
        bias_index (ndarray): for each output component (``f_out * dim`` entries), its index in the flat bias,
            or ``f_out * bias_numel`` (an appended zero) where there is no bias.
        output_mask (ndarray): 1 where an output component receives a path or a bias, else 0.

    >>> linear_plan("2x0e", "0e + 1o", biases=True)
    LinearPlan(2x0e -> 1x0e+1x1o | 2 weights, 1 biases, 1 matmuls)
    """

    def __init__(self, irreps_in, irreps_out, f_in, f_out, instructions, weight_numel, bias_numel, groups,
                 out_sources, weight_scale, bias_index, output_mask):
        self.irreps_in = irreps_in
        self.irreps_out = irreps_out
        self.f_in = f_in
        self.f_out = f_out
        self.instructions = instructions
        self.weight_numel = weight_numel
        self.bias_numel = bias_numel
        self.groups = groups
        self.out_sources = out_sources
        self.weight_scale = weight_scale
        self.bias_index = bias_index
        self.output_mask = output_mask

    def __repr__(self):
        return (f"LinearPlan({self.irreps_in} -> {self.irreps_out} | {self.weight_numel} weights, "
                f"{self.bias_numel} biases, {len(self.groups)} matmuls)")

    def execution(self):
        """What the per-irrep lowering of ``construct`` reads, as a :class:`LinearExecution`.

        >>> linear_plan("2x0e + 1o", "0e + 1o").execution().in_sizes
        (2, 3)
        """
        groups = tuple(g._replace(ir=None, in_blocks=None, out_blocks=None, simple=None,
                                  weight_index=g.weight_index.reshape(-1)) for g in self.groups)
        out_sources = tuple((mul * ir.dim, mul, ir.dim, src) for (mul, ir), src in zip(self.irreps_out,
                                                                                       self.out_sources)
                            if mul * ir.dim > 0)
        return LinearExecution(groups, tuple(mul_ir.dim for mul_ir in self.irreps_in if mul_ir.dim > 0),
                               out_sources, self.weight_scale, self.bias_index,
                               any(g.simple is None for g in self.groups))


class LinearExecution(collections.namedtuple(
        "LinearExecution", ["groups", "in_sizes", "out_sources", "weight_scale", "bias_index", "gather"])):
    """The per-irrep lowering's fields: ``groups`` (:class:`GroupPlan` execution fields), the sizes the input is split
    into, per non-empty output block ``(dim, mul, d, sources)``, the flat weight's path weights, the bias scatter
    index, and whether some group gathers its weights (``weight_index``)."""


def _name(irreps_in, irreps_out):
    return f"Linear({irreps_in} -> {irreps_out})"


def _check_index(value, size, what, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < size:
        raise ValueError(f"{name}: instruction index {what}={value!r} is out of range [0, {size})")
    return int(value)


def _check_channels(f_in, f_out, name):
    if (f_in is None) != (f_out is None):
        raise ValueError(f"{name}: f_in and f_out must be given together, got f_in={f_in}, f_out={f_out}")
    for label, f in (("f_in", f_in), ("f_out", f_out)):
        if f is not None and (isinstance(f, bool) or not isinstance(f, (int, np.integer)) or f < 1):
            raise ValueError(f"{name}: {label} must be a positive int, got {f!r}")


def linear_instructions(irreps_in, irreps_out, instructions=None, biases=False, path_normalization="element",
                        f_in=None):
    """e3nn's instruction list of a Linear: weighted paths with their normalisation, then biases.

    >>> [tuple(i)[:2] for i in linear_instructions("2x0e + 1o", "0e + 1o", biases=True)]
    [(0, 0), (1, 1), (-1, 0)]
    """
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    name = _name(irreps_in, irreps_out)
    if path_normalization not in PATH_NORMALIZATIONS:
        raise ValueError(f"{name}: path_normalization must be one of {PATH_NORMALIZATIONS}, "
                         f"got {path_normalization!r}")
    if instructions is None:
        pairs = [(i, o) for i, (_, ir_i) in enumerate(irreps_in) for o, (_, ir_o) in enumerate(irreps_out)
                 if ir_i == ir_o]
    else:
        pairs = []
        for ins in instructions:
            try:
                i_in, i_out = ins
            except (TypeError, ValueError):
                raise ValueError(f"{name}: an instruction must be a pair (i_in, i_out), got {ins!r}") from None
            i_in = _check_index(i_in, len(irreps_in), "i_in", name)
            i_out = _check_index(i_out, len(irreps_out), "i_out", name)
            if irreps_in[i_in].ir != irreps_out[i_out].ir:
                raise ValueError(f"{name}: instruction ({i_in}, {i_out}) links {irreps_in[i_in].ir} to "
                                 f"{irreps_out[i_out].ir}; a Linear only maps an irrep to the same irrep")
            pairs.append((i_in, i_out))

    def alpha(i_in, i_out):
        fan_in = sum(irreps_in[j if path_normalization == "element" else i_in].mul
                     for j, o in pairs if o == i_out)
        if f_in is not None:
            fan_in *= f_in
        return 1.0 if fan_in == 0 else fan_in ** -0.5

    out = [Instruction(i, o, (irreps_in[i].mul, irreps_out[o].mul), alpha(i, o)) for i, o in pairs]

    if biases is None:
        biases = False
    if isinstance(biases, (bool, np.bool_)):
        biases = [bool(biases) and ir.is_scalar() for _, ir in irreps_out]
    biases = list(biases)
    if len(biases) != len(irreps_out):
        raise ValueError(f"{name}: biases must have one entry per output block ({len(irreps_out)}), "
                         f"got {len(biases)}")
    for b, (_, ir) in zip(biases, irreps_out):
        if b and not ir.is_scalar():
            raise ValueError(f"{name}: a bias is only allowed on scalar (0e) outputs, not on {ir}")
    out += [Instruction(-1, o, (mul_ir.dim,), 1.0) for o, (b, mul_ir) in enumerate(zip(biases, irreps_out)) if b]
    return out


def linear_plan(irreps_in, irreps_out, *, f_in=None, f_out=None, instructions=None, biases=False,
                path_normalization="element"):
    """Build the :class:`LinearPlan` (pure numpy; see the module docstring for the lowering).

    >>> linear_plan("4x0e + 3x0e", "4x0e + 3x0e", instructions=[(0, 0), (1, 1)]).weight_numel
    25
    """
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    name = _name(irreps_in, irreps_out)
    _check_channels(f_in, f_out, name)
    ins_all = linear_instructions(irreps_in, irreps_out, instructions, biases, path_normalization, f_in)
    fi = 1 if f_in is None else int(f_in)
    fo = 1 if f_out is None else int(f_out)

    # flat weight offsets, in instruction order (weighted paths only)
    weighted = [ins for ins in ins_all if ins.i_in != -1]
    offsets, off = [], 0
    for ins in weighted:
        offsets.append(off)
        off += ins.path_shape[0] * ins.path_shape[1]
    weight_numel = off
    size = fi * fo * weight_numel

    weight_scale = np.zeros(size)
    for ins, o in zip(weighted, offsets):
        n = ins.path_shape[0] * ins.path_shape[1]
        for c in range(fi * fo):
            weight_scale[c * weight_numel + o: c * weight_numel + o + n] = ins.path_weight

    # groups: one per irrep; a repeated (i_in, i_out) pair opens a further group of that irrep
    active = [(ins, o) for ins, o in zip(weighted, offsets) if ins.path_shape[0] > 0 and ins.path_shape[1] > 0]
    group_members = []  # list of (ir, [(ins, offset)])
    for ins, o in active:
        ir = irreps_in[ins.i_in].ir
        for g_ir, members in group_members:
            if g_ir == ir and all((m.i_in, m.i_out) != (ins.i_in, ins.i_out) for m, _ in members):
                members.append((ins, o))
                break
        else:
            group_members.append((ir, [(ins, o)]))

    in_starts = [s.start for s in irreps_in.slices()]
    pieces, n_pieces = {}, 0  # position of each non-empty input block among the split input's pieces
    for i, mul_ir in enumerate(irreps_in):
        if mul_ir.dim > 0:
            pieces[i] = n_pieces
            n_pieces += 1
    groups = []
    contributions = collections.defaultdict(list)
    for g, (ir, members) in enumerate(group_members):
        i_ins = sorted({m.i_in for m, _ in members})
        i_outs = sorted({m.i_out for m, _ in members})
        row0, r = {}, 0
        for i in i_ins:
            row0[i] = r
            r += irreps_in[i].mul
        col0, c = {}, 0
        for o in i_outs:
            col0[o] = c
            c += irreps_out[o].mul
        mul_in, mul_out = r, c
        K, M = fi * mul_in, fo * mul_out
        index = np.full((fi, mul_in, fo, mul_out), size, dtype=np.int64)
        for ins, o in members:
            mi, mo = ins.path_shape
            local = np.arange(mi * mo).reshape(mi, mo)
            for x in range(fi):
                for y in range(fo):
                    base = (x * fo + y) * weight_numel + o
                    index[x, row0[ins.i_in]:row0[ins.i_in] + mi, y, col0[ins.i_out]:col0[ins.i_out] + mo] = \
                        base + local
        simple = None
        if len(members) == 1 and fi == 1 and fo == 1:
            simple = (members[0][1], members[0][0].path_weight)
        groups.append(GroupPlan(
            ir=ir, d=ir.dim,
            in_blocks=tuple((in_starts[i], irreps_in[i].mul) for i in i_ins),
            out_blocks=tuple((o, col0[o], irreps_out[o].mul) for o in i_outs),
            K=K, M=M, mul_in=mul_in, mul_out=mul_out,
            weight_index=index.reshape(K, M), simple=simple,
            pieces=tuple(pieces[i] for i in i_ins), offset=-1 if simple is None else simple[0],
            path_weight=np.array([1.0 if simple is None else simple[1]]),
            scaled=simple is not None and simple[1] != 1.0,
        ))
        for o in i_outs:
            contributions[o].append((g, col0[o]))

    out_sources = tuple(tuple(contributions[o]) if o in contributions else None for o in range(len(irreps_out)))

    # biases: flat bias (f_out, bias_numel) scattered onto output components (f_out, dim)
    biases = [ins for ins in ins_all if ins.i_in == -1]
    bias_numel = sum(irreps_out[ins.i_out].dim for ins in biases)
    bias_index = np.full((fo, irreps_out.dim), fo * bias_numel, dtype=np.int64)
    out_slices = irreps_out.slices()
    b0 = 0
    for ins in biases:
        s = out_slices[ins.i_out]
        n = s.stop - s.start
        for y in range(fo):
            bias_index[y, s] = y * bias_numel + b0 + np.arange(n)
        b0 += n

    output_mask = np.zeros(irreps_out.dim)
    for ins in ins_all:
        if 0 not in ins.path_shape:
            output_mask[out_slices[ins.i_out]] = 1.0

    return LinearPlan(irreps_in, irreps_out, f_in, f_out, ins_all, weight_numel, bias_numel, tuple(groups),
                      out_sources, weight_scale, bias_index.reshape(-1), output_mask)


def apply_linear_plan(plan, x, weight, bias=None):
    """Reference evaluation of a plan in numpy (float64), following the lowering step by step.

    ``x``: ``(B, [f_in,] dim_in)``; ``weight``: ``([f_in, f_out,] weight_numel)`` shared or ``(B, ...)`` per sample.
    Used to test the plan without MindSpore.

    >>> plan = linear_plan("2x1o", "1o")
    >>> apply_linear_plan(plan, np.ones((1, 6)), np.ones(2)).round(6).tolist()
    [[1.414214, 1.414214, 1.414214]]
    """
    fi = plan.f_in or 1
    fo = plan.f_out or 1
    x = np.asarray(x, dtype=np.float64)
    B = x.shape[0]
    x = x.reshape(B, fi, plan.irreps_in.dim)
    weight = np.asarray(weight, dtype=np.float64)
    per_sample = weight.ndim == (2 if plan.f_in is None else 4)
    size = fi * fo * plan.weight_numel
    w = weight.reshape((B, size) if per_sample else (size,)) * plan.weight_scale
    w = np.concatenate([w, np.zeros(w.shape[:-1] + (1,))], axis=-1)
    results = []
    for g in plan.groups:
        xs = np.concatenate([x[:, :, s:s + m * g.d].reshape(B, fi, m, g.d) for s, m in g.in_blocks], axis=2)
        xs = xs.reshape(B, g.K, g.d)
        W = w[..., g.weight_index]  # (K, M) or (B, K, M)
        y = np.einsum("km,bkd->bmd", W, xs) if W.ndim == 2 else np.einsum("bkm,bkd->bmd", W, xs)
        results.append(y.reshape(B, fo, g.mul_out, g.d))
    out = []
    for (mul, ir), src in zip(plan.irreps_out, plan.out_sources):
        block = np.zeros((B, fo, mul * ir.dim))
        for g, col in src or ():
            block = block + results[g][:, :, col:col + mul, :].reshape(B, fo, mul * ir.dim)
        out.append(block)
    out = np.concatenate(out, axis=-1) if out else np.zeros((B, fo, 0))
    if plan.bias_numel:
        b = np.concatenate([np.asarray(bias, dtype=np.float64).reshape(-1), [0.0]])
        out = out + b[plan.bias_index].reshape(fo, -1)
    return out.reshape((B, plan.irreps_out.dim) if plan.f_in is None else (B, fo, plan.irreps_out.dim))


def linear_stack_terms(plan):
    """A Linear without channels as :class:`~mindchemistry_e3.o3._stacked_np.StackTerms` of its input features
    (path weights as the terms' coefficients; biases are not terms).

    >>> t = linear_stack_terms(linear_plan("4x0e + 3x1o", "2x0e + 3x1o"))
    >>> t.n_features, t.weight_numel, len(t.terms)
    (13, 17, 2)
    """
    if plan.f_in is not None:
        raise ValueError("linear_stack_terms: channels (f_in, f_out) are not stacked")
    in_slices = plan.irreps_in.slices()
    terms, off = [], 0
    for ins in plan.instructions:
        if ins.i_in == -1:
            continue
        mul_in, mul_out = ins.path_shape
        d = plan.irreps_in[ins.i_in].ir.dim
        start = in_slices[ins.i_in].start
        features = start + np.arange(mul_in)[:, None] * d + np.arange(d)[None, :]
        weights = off + np.arange(mul_in * mul_out).reshape(mul_in, mul_out)
        terms.append(StackTerm(ins.i_out, d, features, weights, ins.path_weight))
        off += mul_in * mul_out
    out_blocks = tuple((s.start, mul, ir.dim) for s, (mul, ir) in zip(plan.irreps_out.slices(), plan.irreps_out))
    return StackTerms(plan.irreps_in.dim, plan.weight_numel, out_blocks, tuple(terms))


def linear_stacked_plan(plan):
    """The :class:`~mindchemistry_e3.o3._stacked_np.StackedPlan` of a Linear without channels (one BatchMatMul
    over the output components, path weights folded into the weight coefficients), or None when no path has
    weights.

    >>> sp = linear_stacked_plan(linear_plan("4x0e + 3x1o", "2x0e + 3x1o"))
    >>> sp.components, sp.slots, sp.chunk
    (4, 4, 3)
    """
    t = linear_stack_terms(plan)
    return stacked_plan(t.n_features, t.out_blocks, t.terms)
