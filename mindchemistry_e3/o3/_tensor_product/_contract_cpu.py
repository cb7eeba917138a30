r"""The output-stationary contraction ``t [Z, K N], y [Z, N, W] -> [Z, W, K]`` as fused CPU kernels:
:class:`FusedContract` (the last step of a fully connected tensor product with a spherical-harmonics-like second
input, :class:`~mindchemistry_e3.o3._tensor_product._plan.OutputStationary`, on CPU).

The kernels of :mod:`._contract_cpu_np` as MindSpore AOT custom ops, their gradient chain wired by
:func:`._bilinear_cpu.bilinear_ops` (first and second order).
"""
import mindspore as ms
from mindspore import nn

from ...util._native import build_library
from ._bilinear_cpu import bilinear_ops
from ._contract_cpu_np import contract_source, contract_support


class FusedContract(nn.Cell):
    r"""``t [Z, K N]`` (rows ``(k, n)``), ``y [Z, N, W]`` -> ``[Z, W, K]`` with
    ``o[z, w, k] = sum_n t[z, k, n] y[z, n, w]``, as fused CPU kernels.

    Args:
        k (int): ``K``.
        n (int): ``N``.
        w (int): ``W``.
        library (str): the compiled :func:`._contract_cpu_np.contract_source` of ``k``, ``n``, ``w``.

    Inputs:
        - **t** (Tensor) - ``[Z, K N]``, float32 or float64, ``Z > 0``.
        - **y** (Tensor) - ``[Z, N, W]``, the same dtype.

    Outputs:
        Tensor ``[Z, W, K]``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> cell = fused_contract(1, 2, 3)
        >>> t, y = ms.Tensor([[1.0, 2.0]]), ms.Tensor(np.ones((1, 2, 3), np.float32))
        >>> cell is None or cell(t, y).asnumpy().tolist() == [[[3.0], [3.0], [3.0]]]
        True
    """

    def __init__(self, k, n, w, library):
        super().__init__()
        self.k, self.n, self.w = int(k), int(n), int(w)
        k, w = self.k, self.w
        self.forward = bilinear_ops(library, "contract", lambda t, y: (t[0], w, k))

    def construct(self, t, y):
        return self.forward(t, y)


def fused_contract(k, n, w):
    """A :class:`FusedContract` of sizes ``k``, ``n``, ``w``, or None on a target other than CPU, for sizes the
    kernels do not take, or without native kernels."""
    if ms.get_context("device_target") != "CPU" or contract_support(k, n, w) is not None:
        return None
    library = build_library(contract_source(k, n, w), "contract")
    return None if library is None else FusedContract(k, n, w, library)


__all__ = ["FusedContract", "fused_contract"]
