r"""Linear maps that pick and add columns (permutations, repetitions, sums), with adjoints of the same form.

A :class:`ColumnMap` sends ``x [R, n_in]`` to ``y [R, width]`` with ``y[:, j] = sum_s x[:, sources[j][s]]``:
a permutation, a repetition of columns, or a sum of several. It is executed as one column gather (plus a sum
over ``S`` when a column has several sources, and a zero column appended when some have fewer than ``S``), and
its adjoint -- the gradient -- is a map of the same kind (the transposed incidence), so first, second and higher
derivatives stay one gather each (MindSpore's own gradient of a gather along axis 1 is a transpose, a segment
sum and a transpose back, with out-of-range masks in the second order).

:func:`column_map` plans it (this module imports no MindSpore);
:func:`mindchemistry_e3.util._column_map.take_columns` executes it inside ``construct``.

>>> cmap = column_map([[2], [0, 1], []], 3)
>>> cmap.index.tolist(), cmap.adjoint.tolist(), cmap.kind
([[2, 0, 3], [3, 1, 3]], [1, 1, 0], 12)
>>> apply_column_map(cmap, np.array([[1.0, 2.0, 4.0]])).tolist()
[[4.0, 3.0, 0.0]]
"""
from typing import NamedTuple

import numpy as np

__all__ = ["ColumnMap", "ChunkedMap", "column_map", "column_sources", "compose", "chunked", "transpose", "is_identity",
           "apply_column_map", "PAD", "SUM", "ADJOINT_PAD", "ADJOINT_SUM", "transpose_kind"]

#: Bits of :attr:`ColumnMap.kind`: append a zero column / sum over the sources (the map, then its adjoint).
PAD, SUM, ADJOINT_PAD, ADJOINT_SUM = 8, 4, 2, 1


class ColumnMap(NamedTuple):
    """``y[:, j] = sum_s x_pad[:, index[s, j]]`` (``index[j]`` alone when there is one source) and its adjoint.

    Fields:
        index (ndarray): int ``[width]``, or ``[S, width]`` when some output column has several sources (one row
            per source: the gather gives ``[R, S, width]`` whose rows are added); the value ``n_in`` is an
            appended zero column.
        adjoint (ndarray): the same for the transposed map ``[R, width] -> [R, n_in]``.
        kind (int): the bits :data:`PAD`, :data:`SUM` (of the map) and :data:`ADJOINT_PAD`, :data:`ADJOINT_SUM`.
    """

    index: np.ndarray
    adjoint: np.ndarray
    kind: int


def _table(sources, n_in):
    s = max([len(src) for src in sources] + [1])
    table = np.full((len(sources), s), n_in, dtype=np.int64)
    for j, src in enumerate(sources):
        table[j, :len(src)] = src
    pad = any(len(src) < s for src in sources)
    return (table.T.copy() if s > 1 else table.reshape(-1)), pad, s > 1


def column_map(sources, n_in):
    """Plan the map whose output column ``j`` is the sum of the input columns ``sources[j]`` (``n_in`` inputs).

    ``sources[j] = None`` marks a column whose value does not matter (a padding slot that a zero weight
    multiplies): it reads input column 0 rather than an appended zero column, and its gradient -- zero wherever
    the consumer's weight is zero -- is not sent back.

    >>> column_map([[1], None], 2).index.tolist(), column_map([[1], None], 2).adjoint.tolist()
    ([1, 0], [2, 0])
    """
    dont_care = [src is None for src in sources]
    sources = [[0] if src is None else [int(i) for i in src] for src in sources]
    for src in sources:
        for i in src:
            if not 0 <= i < n_in:
                raise ValueError(f"column_map: source column {i} out of range [0, {n_in})")
    back = [[] for _ in range(n_in)]
    for j, src in enumerate(sources):
        for i in src:
            if not dont_care[j]:
                back[i].append(j)
    index, pad, summed = _table(sources, n_in)
    adjoint, adjoint_pad, adjoint_summed = _table(back, len(sources))
    kind = PAD * pad + SUM * summed + ADJOINT_PAD * adjoint_pad + ADJOINT_SUM * adjoint_summed
    return ColumnMap(index, adjoint, int(kind))


def column_sources(cmap):
    """What :func:`column_map` was given: the sources of every output column (None where the value does not
    matter) and the number of input columns.

    >>> column_sources(column_map([[2], [0, 1], [], None], 3))
    ([[2], [0, 1], [], None], 3)
    """
    n_in = int(cmap.adjoint.shape[-1])
    width = int(cmap.index.shape[-1])
    rows = cmap.index.reshape(-1, width)
    readers_of_0 = set(int(j) for j in cmap.adjoint.reshape(-1, n_in)[:, 0]) if n_in else set()
    sources = []
    for j in range(width):
        src = [int(i) for i in rows[:, j] if i != n_in]
        sources.append(None if src == [0] and j not in readers_of_0 else src)
    return sources, n_in


def compose(first, second):
    """The map ``second(first(x))`` as one :class:`ColumnMap` (None stands for an identity and is returned when
    both are).

    >>> m = compose(column_map([[0, 1], [2]], 3), column_map([[1], [0], [0, 1]], 2))
    >>> apply_column_map(m, np.array([[1.0, 2.0, 4.0]])).tolist()
    [[4.0, 3.0, 7.0]]

    Raises:
        ValueError: when ``second`` reads a column whose value ``first`` leaves undefined.
    """
    if first is None or second is None:
        return second if first is None else first
    inner, n_in = column_sources(first)
    outer, _ = column_sources(second)
    sources = []
    for src in outer:
        if src is None:
            sources.append(None)
            continue
        if any(inner[i] is None for i in src):
            raise ValueError("compose: the second map reads a column the first leaves undefined")
        sources.append([c for i in src for c in inner[i]])
    return column_map(sources, n_in)


class ChunkedMap(NamedTuple):
    """A :class:`ColumnMap` that moves whole chunks of ``size`` contiguous columns, planned over the chunks: run on
    the view ``[R, n_in / size, size]`` it gathers ``size`` contiguous values at a time (a column gather on CPU
    moves one value at a time, several times slower).

    Fields:
        map (ColumnMap): the map of the chunks.
        size (int): columns per chunk (1: the columns themselves).
    """

    map: ColumnMap
    size: int


def chunked(cmap):
    """``cmap`` as a :class:`ChunkedMap` over the largest aligned chunks it moves whole (``size`` 1 when none does).

    >>> m = chunked(column_map([[2], [3], [0], [1], [0, 2], [1, 3]], 4))
    >>> m.size, column_sources(m.map)
    (2, ([[1], [0], [0, 1]], 2))
    """
    sources, n_in = column_sources(cmap)
    width = len(sources)
    for size in range(min(n_in, width), 1, -1):
        if n_in % size or width % size:
            continue
        chunk_sources = []
        for j in range(0, width, size):
            first = sources[j]
            if first is None:
                whole = all(sources[j + t] is None for t in range(size))
                chunk_sources.append(None)
            else:
                whole = all(i % size == 0 for i in first) and all(
                    sources[j + t] is not None and sorted(sources[j + t]) == sorted(i + t for i in first)
                    for t in range(size))
                chunk_sources.append([i // size for i in first])
            if not whole:
                break
        else:
            return ChunkedMap(column_map(chunk_sources, n_in // size), size)
    return ChunkedMap(cmap, 1)


def transpose_kind(kind):
    """The :attr:`ColumnMap.kind` of the adjoint map (the map's bits and the adjoint's swapped)."""
    return ((kind & (ADJOINT_PAD | ADJOINT_SUM)) << 2) | (kind >> 2)


def transpose(cmap):
    """The adjoint map (``y @ M.T`` where the map is ``x @ M``).

    >>> transpose(column_map([[2], [0], [0]], 3)).index.tolist()
    [[1, 3, 0], [2, 3, 3]]
    """
    return ColumnMap(cmap.adjoint, cmap.index, transpose_kind(cmap.kind))


def is_identity(cmap, n_in):
    """Whether the map is the identity of ``n_in`` columns (then nothing needs to run)."""
    return cmap.index.ndim == 1 and np.array_equal(cmap.index, np.arange(n_in))


def apply_column_map(cmap, x):
    """numpy reference of :func:`~mindchemistry_e3.util._column_map.take_columns` (and of ``take_chunks`` for a
    :class:`ChunkedMap`)."""
    if isinstance(cmap, ChunkedMap):
        rows = x.shape[:-1]
        return apply_column_map(cmap.map, x.reshape(rows + (-1, cmap.size)).swapaxes(-1, -2)).swapaxes(
            -1, -2).reshape(rows + (-1,))
    if cmap.kind & PAD:
        x = np.concatenate([x, np.zeros(x.shape[:-1] + (1,), x.dtype)], axis=-1)
    if cmap.index.ndim == 2:
        return sum(x[..., row] for row in cmap.index)
    return x[..., cmap.index]
