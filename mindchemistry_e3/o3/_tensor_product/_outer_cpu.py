r"""The row-wise outer product ``[Z, A] x [Z, B] -> [Z, A B]`` as fused CPU kernels: :class:`FusedOuter` (the
features of :meth:`~mindchemistry_e3.o3.TensorProduct.stack_features` on CPU).

The kernels of :mod:`._outer_cpu_np` as MindSpore AOT custom ops, their gradient chain wired by
:func:`._bilinear_cpu.bilinear_ops` (first and second order).
"""
import mindspore as ms
from mindspore import nn

from ...util._native import build_library
from ._bilinear_cpu import bilinear_ops
from ._outer_cpu_np import outer_source


class FusedOuter(nn.Cell):
    r"""``x [Z, A]``, ``y [Z, B]`` -> ``[Z, A B]`` with ``o[z, i B + j] = x[z, i] y[z, j]``, as fused CPU kernels.

    Args:
        a (int): ``A``.
        b (int): ``B``.
        library (str): the compiled :func:`._outer_cpu_np.outer_source` of ``a``, ``b``.

    Inputs:
        - **x** (Tensor) - ``[Z, A]``, float32 or float64, ``Z > 0``.
        - **y** (Tensor) - ``[Z, B]``, the same dtype.

    Outputs:
        Tensor ``[Z, A B]``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> cell = fused_outer(2, 3)
        >>> cell is None or cell(ms.Tensor([[1.0, 2.0]]), ms.Tensor([[1.0, 0.0, 3.0]])).asnumpy().tolist() == [
        ...     [1.0, 0.0, 3.0, 2.0, 0.0, 6.0]]
        True
    """

    def __init__(self, a, b, library):
        super().__init__()
        self.a, self.b = int(a), int(b)
        width = self.a * self.b
        self.forward = bilinear_ops(library, "outer", lambda x, y: (x[0], width))

    def construct(self, x, y):
        return self.forward(x, y)


def fused_outer(a, b):
    """A :class:`FusedOuter` of widths ``a``, ``b``, or None on a target other than CPU or without native kernels."""
    if ms.get_context("device_target") != "CPU" or a < 1 or b < 1:
        return None
    library = build_library(outer_source(a, b), "outer")
    return None if library is None else FusedOuter(a, b, library)


__all__ = ["FusedOuter", "fused_outer"]
