r"""Equivariant linear maps as one BatchMatMul over output components (numpy plan, imports no MindSpore).

An equivariant linear map between direct sums of irreps -- ``o3.Linear``, and a tensor product whose second input
holds only scalars (the species self-connection of NequIP) -- writes every output component ``(o, w, k)``
(block ``o``, multiplicity ``w``, component ``k``) as a sum over *terms* ``t -> o``:

.. math::
    y_{o, w, k} = \sum_{t \to o} c_t \sum_u W_t[u, w]\, f_{t, u, k},

where ``f`` are input features (``x`` itself, or the products ``x1_{u1} x2_{v}`` for a scalar second input) and
``W_t`` a block of the flat weight vector. The same weight block acts on every component ``k`` of an irrep, so
grouping the outputs by component gives one batch of matrix products:

* a *component* ``c = (o, j, k)`` is component ``k`` of the ``j``-th chunk of ``M`` multiplicities of block ``o``
  (blocks are cut into chunks of a common size ``M``, padded when their multiplicity is not a multiple);
* its input vector gathers ``f_{t, u, k}`` over all ``(t, u)`` with ``t -> o`` (``X`` slots; padding slots hold
  any feature and have zero weights);
* ``Y[c] = F[c] @ W_exp[c]``: **one** BatchMatMul ``[C, Z, X] @ [C, X, M]``, with ``W_exp`` gathered from the flat
  weights (times the coefficients ``c_t``) once per call.

Execution: one column gather of the features into ``[Z, C * X]``, a transpose to ``[C, Z, X]``, the BatchMatMul,
a transpose back and one column gather into e3nn's output layout -- a fixed handful of ops whatever the number of
irreps (the per-irrep lowering needs a slice, two transposes and a MatMul per irrep, and a concatenation), which
keeps MindSpore's compile short and the kernel count low. Flops are those of the per-irrep lowering plus the
padding, which :func:`stacked_plan` reports.

>>> p = stacked_plan(3 * 1 + 2 * 3, [(0, 4, 1), (4, 2, 3)], [StackTerm(0, 1, [[0], [1], [2]], [[0, 1, 2, 3],
...     [4, 5, 6, 7], [8, 9, 10, 11]], 1.0), StackTerm(1, 3, [[3, 4, 5], [6, 7, 8]], [[12, 13], [14, 15]], 0.5)])
>>> p.components, p.slots, p.chunk, round(p.padding, 3)
(5, 3, 2, 0.2)
"""
from math import gcd
from typing import NamedTuple

import numpy as np

from ..util._column_map_np import column_map, column_sources, compose, is_identity

__all__ = ["StackTerm", "StackTerms", "StackedPlan", "StackedSumPlan", "stacked_plan", "stacked_sum_plan",
           "apply_stacked_plan", "apply_stacked_sum_plan"]


class StackTerm(NamedTuple):
    """One term ``t -> o``: ``y_{o, w, k} += coef * sum_u weight[weight_index[u, w]] * f[feature_index[u, k]]``.

    Fields:
        out (int): output block.
        d (int): components of the block's irrep.
        feature_index (array): int ``[n_u, d]``, the feature column of every ``(u, k)``.
        weight_index (array): int ``[n_u, mul_out]``, the flat-weight entry of every ``(u, w)``.
        coef (float or array): the path weight, or one per component ``[d]``.
    """

    out: int
    d: int
    feature_index: object
    weight_index: object
    coef: object


class StackTerms(NamedTuple):
    """A whole linear map as :class:`StackTerm` s: the arguments of :func:`stacked_plan` and its weight count.

    Fields:
        n_features (int): feature columns the terms read.
        weight_numel (int): entries of the flat weight the terms index.
        out_blocks (tuple): output blocks ``(start, mul, d)`` in e3nn's layout.
        terms (tuple[StackTerm]): the terms.
    """

    n_features: int
    weight_numel: int
    out_blocks: tuple
    terms: tuple


class StackedPlan(NamedTuple):
    """The BatchMatMul ``[C, Z, X] @ [C, X, M]`` of a linear map and its two column maps.

    Fields:
        in_map (ColumnMap or None): features ``[Z, n_features]`` -> ``[Z, C * X]`` (component ``c``'s slots; the
            padding slots read any column, their weights being zero); None when that is the identity.
        weight_index (ndarray): int ``[C, X, M]`` into the flat weight (0 where padded).
        weight_coef (ndarray): float ``[C, X, M]`` (the coefficients; 0 where padded).
        components (int): ``C``.
        slots (int): ``X``.
        chunk (int): ``M``.
        out_map (ColumnMap or None): ``[Z, C * M]`` -> e3nn's output ``[Z, dim_out]``; None when the identity.
        padding (float): the fraction of the BatchMatMul's products that multiply padding.
    """

    in_map: object
    weight_index: np.ndarray
    weight_coef: np.ndarray
    components: int
    slots: int
    chunk: int
    out_map: object
    padding: float


def _read(block, live):
    """Whether some column of the output block ``(start, mul, d)`` is in ``live``."""
    start, mul, d = (int(v) for v in block)
    return any(c in live for c in range(start, start + mul * d))


def _chunk(muls):
    """The chunk size: the largest common divisor of the multiplicities when it is not small, else their maximum."""
    g = 0
    for m in muls:
        g = gcd(g, m)
    return g if g >= min(8, min(muls)) else max(muls)


class StackedSumPlan(NamedTuple):
    """The BatchMatMul of a sum of linear maps: one :class:`StackedPlan` on the maps' features side by side, its
    block weights ``[C, X, M]`` gathered from each map's own flat weight and added.

    Fields:
        stacked (StackedPlan): the product (its ``weight_index`` points into the maps' weights concatenated).
        weight_index (tuple[ndarray]): per map, int ``[C, X, M]`` into its flat weight (0 where another map's).
        weight_coef (tuple[ndarray]): per map, float ``[C, X, M]`` (0 where another map's or padded).
        n_features (tuple[int]): per map, the columns of the features it is given (its input map's inputs, if any).
    """

    stacked: StackedPlan
    weight_index: tuple
    weight_coef: tuple
    n_features: tuple


def stacked_plan(n_features, out_blocks, terms, live=None):
    """Plan a linear map from ``n_features`` feature columns to output blocks ``(start, mul, d)`` (e3nn layout,
    in order) as the sum of :class:`StackTerm` s (blocks without a term are zero). ``live`` (a set of output
    columns, None: all) restricts the work to the components that write one of them: the other output columns
    come out zero (a consumer that reads a few of the outputs pays for those only).

    Returns:
        StackedPlan, or None when no output block has a term (the map is zero).
    """
    terms = [t._replace(feature_index=np.asarray(t.feature_index, dtype=np.int64).reshape(-1, t.d),
                        weight_index=np.asarray(t.weight_index, dtype=np.int64)) for t in terms]
    terms = [t for t in terms if t.feature_index.size > 0 and t.weight_index.size > 0]
    if live is not None:  # blocks none of whose columns is read write nothing
        live = {int(c) for c in live}
        terms = [t for t in terms if _read(out_blocks[t.out], live)]
    written = sorted({t.out for t in terms})
    if not written:
        return None
    m = _chunk([out_blocks[o][1] for o in written])
    comps = []  # (o, j, k)
    for o in written:
        start, mul, d = out_blocks[o]
        comps += [(o, j, k) for j in range(-(-mul // m)) for k in range(d)
                  if live is None or any(start + w * d + k in live for w in range(j * m, min(mul, (j + 1) * m)))]
    position = {comp: ci for ci, comp in enumerate(comps)}
    slots = {o: sum(t.feature_index.shape[0] for t in terms if t.out == o) for o in written}
    x = max(slots.values())
    c = len(comps)
    sources = [None] * (c * x)  # padding slots: any column (their weights are zero)
    w_index = np.zeros((c, x, m), dtype=np.int64)
    w_coef = np.zeros((c, x, m))
    useful = 0
    for ci, (o, j, k) in enumerate(comps):
        mul = out_blocks[o][1]
        w0, w1 = j * m, min(mul, (j + 1) * m)
        s = 0
        for t in terms:
            if t.out != o:
                continue
            coef = np.broadcast_to(np.asarray(t.coef, dtype=np.float64), (t.d,))[k]
            n_u = t.feature_index.shape[0]
            for u in range(n_u):
                sources[ci * x + s + u] = [int(t.feature_index[u, k])]
            w_index[ci, s:s + n_u, :w1 - w0] = t.weight_index[:, w0:w1]
            w_coef[ci, s:s + n_u, :w1 - w0] = coef
            s += n_u
        useful += slots[o] * (w1 - w0)
    out_sources = []
    for o, (start, mul, d) in enumerate(out_blocks):
        for w in range(mul):
            for k in range(d):
                ci = position.get((o, w // m, k))
                out_sources.append([] if ci is None else [ci * m + w % m])
    in_map = column_map(sources, n_features)
    out_map = column_map(out_sources, c * m)
    return StackedPlan(None if is_identity(in_map, n_features) else in_map, w_index, w_coef, c, x, m,
                       None if is_identity(out_map, c * m) else out_map,
                       1.0 - useful / float(c * x * m))


def stacked_sum_plan(maps, input_maps=None, output_map=None):
    """The :class:`StackedSumPlan` of a sum of linear maps (:class:`StackTerms` with the same output blocks): one
    BatchMatMul where the maps would take one each, their terms sharing the slots of each output component; the
    features are the maps' side by side (``[Z, sum n_features]``), the block weights read from each map's flat weight
    (the weights are not concatenated: a Concat of Parameters makes MindSpore copy every weight of a train step).

    ``input_maps`` (one ColumnMap or None per map) take each map's features in another layout -- ``features_i =
    raw_i @ M_i``, e.g. the unmapped results of a convolution -- and ``output_map`` sends the sum on to the layout of
    its consumer (e.g. a Gate's); both are folded into the product's own column maps, so they cost nothing at run
    time. Only the components whose outputs ``output_map`` reads are computed.

    >>> a = StackTerms(2, 2, ((0, 1, 1),), (StackTerm(0, 1, [[0], [1]], [[0], [1]], 1.0),))
    >>> b = StackTerms(1, 1, ((0, 1, 1),), (StackTerm(0, 1, [[0]], [[0]], 2.0),))
    >>> plan = stacked_sum_plan([a, b])
    >>> apply_stacked_sum_plan(plan, np.array([[1.0, 2.0, 3.0]]), [np.array([1.0, 1.0]), np.array([1.0])]).tolist()
    [[9.0]]

    Raises:
        ValueError: when the maps' output blocks differ, or an input map's width is not its map's features.
    """
    maps = list(maps)
    input_maps = [None] * len(maps) if input_maps is None else list(input_maps)
    if len(input_maps) != len(maps):
        raise ValueError(f"stacked_sum_plan: {len(input_maps)} input maps for {len(maps)} maps")
    # per map, the features it reads as sums of the raw columns it is given, and the number of raw columns
    given = [([[c] for c in range(m.n_features)], int(m.n_features)) if cmap is None else column_sources(cmap)
             for m, cmap in zip(maps, input_maps)]
    for m, (src, _) in zip(maps, given):
        if len(src) != m.n_features:
            raise ValueError(f"stacked_sum_plan: an input map gives {len(src)} features, its map reads "
                             f"{m.n_features}")
    widths = tuple(n_raw for _, n_raw in given)
    blocks = tuple(tuple(int(v) for v in block) for block in maps[0].out_blocks)
    terms, n_features, weight_numel = [], 0, 0
    for m in maps:
        if tuple(tuple(int(v) for v in block) for block in m.out_blocks) != blocks:
            raise ValueError(f"stacked_sum_plan: the maps' output blocks differ ({blocks} and {tuple(m.out_blocks)})")
        terms += [t._replace(feature_index=np.asarray(t.feature_index, dtype=np.int64) + n_features,
                             weight_index=np.asarray(t.weight_index, dtype=np.int64) + weight_numel) for t in m.terms]
        n_features += m.n_features
        weight_numel += m.weight_numel
    # only the components whose outputs the output map reads are computed (a consumer reading some outputs)
    live = None if output_map is None else {c for src in column_sources(output_map)[0] if src for c in src}
    plan = stacked_plan(n_features, blocks, terms, live)
    if plan is None:
        return None
    if any(cmap is not None for cmap in input_maps) or output_map is not None:
        # raw features side by side -> the maps' features side by side, then the product's own maps
        raw, offset = [], 0
        for src, n_raw in given:
            raw += [None if cols is None else [offset + c for c in cols] for cols in src]
            offset += n_raw
        in_map = compose(column_map(raw, offset), plan.in_map)
        out_map = compose(plan.out_map, output_map)
        plan = plan._replace(in_map=None if is_identity(in_map, offset) else in_map,
                             out_map=None if out_map is None or is_identity(out_map, plan.components * plan.chunk)
                             else out_map)
    index, coef, off = [], [], 0
    for m in maps:
        # a padding slot reads entry 0 of the concatenation with coefficient 0: it belongs to no map
        mine = (plan.weight_index >= off) & (plan.weight_index < off + m.weight_numel) & (plan.weight_coef != 0)
        index.append(np.where(mine, plan.weight_index - off, 0))
        coef.append(np.where(mine, plan.weight_coef, 0.0))
        off += m.weight_numel
    return StackedSumPlan(plan, tuple(index), tuple(coef), widths)


def apply_stacked_sum_plan(plan, features, weights):
    """numpy reference of :class:`~mindchemistry_e3.o3.StackedSum`: ``features [Z, sum n_features]`` and one flat
    weight per map -> ``[Z, dim_out]``."""
    w = sum(np.asarray(wi)[index] * coef for wi, index, coef in zip(weights, plan.weight_index, plan.weight_coef))
    return _apply_blocks(plan.stacked, features, w)


def apply_stacked_plan(plan, features, weight):
    """numpy reference of the execution: ``features [Z, n_features]``, flat ``weight`` -> ``[Z, dim_out]``."""
    return _apply_blocks(plan, features, np.asarray(weight)[plan.weight_index] * plan.weight_coef)


def _apply_blocks(plan, features, w):
    """The product with the block weights ``w [C, X, M]`` given."""
    from ..util._column_map_np import apply_column_map

    z = features.shape[0]
    f = features if plan.in_map is None else apply_column_map(plan.in_map, features)
    f = f.reshape(z, plan.components, plan.slots).transpose(1, 0, 2)
    y = (f @ w).transpose(1, 0, 2).reshape(z, -1)
    return y if plan.out_map is None else apply_column_map(plan.out_map, y)
