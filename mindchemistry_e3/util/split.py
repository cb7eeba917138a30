"""``split``: cut a tensor into pieces of given sizes along an axis, the fast way for the execution mode.

In graph mode one ``SplitWithSize`` op (its gradient is a single concat; ``ops.split`` with a list of sizes lowers
to one slice per piece, slower to compile, and each piece's gradient is a zero-padded full-size tensor). In
PyNative the gradient of ``SplitWithSize -> reshape -> concat`` is wrong in MindSpore 2.10 (pieces get each
other's gradients), so PyNative gets the slicing ``ops.split``. A Cell records its mode in ``__call__`` (which
runs in PyNative and for a top-level graph call, not inside a compiled parent) and passes it here.

>>> import mindspore as ms
>>> [p.shape for p in split(ms.ops.ones((2, 5), ms.float32), (2, 3), 1, pynative=True)]
[(2, 2), (2, 3)]
"""
from mindspore import ops

__all__ = ["split"]

_SPLIT_WITH_SIZE = ops.auto_generate.SplitWithSize()


def split(x, sizes, axis, pynative=False):
    """Pieces of ``x`` of ``sizes`` along ``axis`` (a 1-tuple of ``x`` itself for a single piece)."""
    if len(sizes) <= 1:
        return (x,)
    if pynative:
        return ops.split(x, sizes, axis)
    return _SPLIT_WITH_SIZE(x, sizes, axis)
