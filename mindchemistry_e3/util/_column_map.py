"""Execute a :class:`~mindchemistry_e3.util._column_map_np.ColumnMap` in ``construct``: one column gather (and a
sum over the sources), whose gradient is the adjoint map executed the same way -- so every derivative order is a
gather, where MindSpore's own gradient of a gather along axis 1 is a transpose, a segment sum and a transpose back
(with out-of-range masks in the second order).

One module-level Cell per :attr:`~mindchemistry_e3.util._column_map_np.ColumnMap.kind` (padding and summation
of the map and of its adjoint): a custom ``bprop`` is differentiated again in graph mode only when it calls
primitives and Cells and branches on nothing but constant attributes (an ``if`` on an input there fails with
"The func graph is empty").

>>> import numpy as np, mindspore as ms
>>> from mindchemistry_e3.util._cell import plan_tensors
>>> from mindchemistry_e3.util._column_map_np import column_map
>>> cmap = plan_tensors(column_map([[2], [0, 1], []], 3), ms.float32)
>>> take_columns(ms.Tensor([[1.0, 2.0, 4.0]]), cmap).asnumpy().tolist()
[[4.0, 3.0, 0.0]]
"""
from mindspore import nn, ops

from ._column_map_np import PAD, SUM, transpose_kind

__all__ = ["take_columns", "take_chunks", "take_rows"]

_GATHER = ops.Gather()
_CONCAT = (ops.Concat(axis=0), ops.Concat(axis=1))
_ZEROS_LIKE = ops.ZerosLike()  # primitives: the functional forms break a second-order custom bprop
_UNSTACK = (ops.Unstack(axis=0), ops.Unstack(axis=1))
_ADD_N = ops.AddN()


class _Take(nn.Cell):
    """Columns (``axis`` 1: ``x [R, n]``) or rows (``axis`` 0: ``x [n, R]``) picked and added for one kind of map;
    its gradient is the adjoint's kind along the same axis."""

    def __init__(self, kind, axis):
        super().__init__()
        self.pad = bool(kind & PAD)
        self.summed = bool(kind & SUM)
        self.adjoint_kind = transpose_kind(kind)
        self.axis = axis

    def construct(self, x, index, adjoint):
        if self.pad:
            zero = _ZEROS_LIKE(x[:, :1]) if self.axis == 1 else _ZEROS_LIKE(x[:1])
            x = _CONCAT[self.axis]((x, zero))
        y = _GATHER(x, index, self.axis)
        if self.summed:  # the S sources added one by one (ReduceSum over S is ~8x slower on CPU)
            y = _ADD_N(_UNSTACK[self.axis](y))
        return y

    def bprop(self, x, index, adjoint, out, dout):
        return _TAKE[self.axis][self.adjoint_kind](dout, adjoint, index), _ZEROS_LIKE(index), _ZEROS_LIKE(adjoint)


_TAKE = (tuple(_Take(kind, 0) for kind in range(16)), tuple(_Take(kind, 1) for kind in range(16)))


def take_columns(x, cmap):
    """Apply a :class:`~mindchemistry_e3.util._column_map_np.ColumnMap` (its arrays as Tensors, see
    :func:`mindchemistry_e3.util._cell.plan_tensors`) to the rows of ``x [R, n_in]``; call it inside ``construct``."""
    return _TAKE[1][cmap.kind](x, cmap.index, cmap.adjoint)


def take_chunks(x, chunks):
    """Apply a :class:`~mindchemistry_e3.util._column_map_np.ChunkedMap` (arrays as Tensors) to the rows of
    ``x [R, n_in]``: the chunk map on the view ``[R, n_in / size, size]`` (contiguous runs moved at a time)."""
    if chunks.size == 1:
        return take_columns(x, chunks.map)
    r = x.shape[0]
    return _TAKE[1][chunks.map.kind](x.reshape(r, -1, chunks.size), chunks.map.index, chunks.map.adjoint).reshape(r, -1)


def take_rows(x, cmap):
    """The same map applied to the columns of ``x [n_in, R]`` (rows picked: contiguous copies, 2-5x faster on CPU
    than picking columns), ``-> [width, R]``."""
    return _TAKE[0][cmap.kind](x, cmap.index, cmap.adjoint)
