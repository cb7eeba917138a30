r"""The spherical harmonics of degree :math:`\le 3` as two fused CPU kernels: :class:`FusedHarmonics`.

The same polynomial as :class:`._spherical_harmonics_poly.PolynomialHarmonics` (or
:class:`~._spherical_harmonics_poly.NormalizedPolynomialHarmonics`), executed by the generated C++ of
:mod:`._spherical_harmonics_cpu_np` as MindSpore AOT custom ops: one pass over the rows forward, one for the
gradient, where the plain-op Cells launch about 30 and 45 kernels.

Derivatives: the forward's ``bprop`` is the ``sh_vjp`` kernel (first order: energies to forces). That kernel's own
``bprop`` -- needed only for second order, e.g. a loss on forces -- differentiates the plain-op gradient of the
polynomial Cell (its ``bprop``, primitives only) with MindSpore's autodiff, so second order is exactly the one of
the plain-op Cell.

:func:`fused_harmonics` returns the Cell only on a CPU target with native kernels available
(:mod:`mindchemistry_e3.util._native`); otherwise None, and :class:`~mindchemistry_e3.o3.SphericalHarmonics` keeps
the plain-op Cell.
"""
import mindspore as ms
from mindspore import nn, ops

from ..util._native import build_library
from ._spherical_harmonics_cpu_np import harmonics_source
from ._spherical_harmonics_poly import NormalizedPolynomialHarmonics, PolynomialHarmonics


class _PolynomialVjp(nn.Cell):
    """The plain-op gradient ``g dy/dx`` of a polynomial Cell (its ``bprop``) as a Cell of ``(x, g)``, to be
    differentiated by autodiff."""

    def __init__(self, polynomial):
        super().__init__()
        self.polynomial = polynomial

    def construct(self, x, g):
        return self.polynomial.bprop(x, x, g)[0]


class _HarmonicsVjp(nn.Cell):
    """``sh_vjp(x, g)``; its ``bprop`` is the autodiff of :class:`_PolynomialVjp` (second order)."""

    def __init__(self, library, polynomial):
        super().__init__()
        self.vjp = ops.Custom(f"{library}:sh_vjp", out_shape=_same_as_first, out_dtype=_same_as_first,
                              func_type="aot")
        self.reference = _PolynomialVjp(polynomial)
        self.grad = ops.GradOperation(get_all=True, sens_param=True)

    def construct(self, x, g):
        return self.vjp(x, g)

    def bprop(self, x, g, out, dout):
        return self.grad(self.reference)(x, g, dout)


def _same_as_first(first, *_):
    return first


class FusedHarmonics(nn.Cell):
    r"""``F(v)^T C`` (:class:`._spherical_harmonics_poly.PolynomialHarmonics`, ``v = x / |x|`` with ``normalize``)
    as fused CPU kernels (see the module doc).

    Args:
        matrix (numpy.ndarray): :math:`C`, ``(len(monomials(degree)[0]), dim)`` float64.
        degree (int): 2 or 3.
        normalize (bool): whether ``v`` is ``x / |x|`` (e3nn's clamp).
        dtype (mindspore.dtype): ``mindspore.float32`` or ``mindspore.float64``, of the input and the output.
        library (str): the compiled :func:`._spherical_harmonics_cpu_np.harmonics_source` of these arguments.

    Inputs:
        - **x** (Tensor) - shape ``(N, 3)``.

    Outputs:
        Tensor of shape ``(N, dim)``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> cell = fused_harmonics(np.eye(10)[:, 4:], 2, False, ms.float64)  # the six quadratic monomials
        >>> cell is None or cell(ms.Tensor([[1.0, 2.0, 3.0]], ms.float64)).asnumpy().tolist() == [
        ...     [1.0, 2.0, 3.0, 4.0, 6.0, 9.0]]
        True
    """

    def __init__(self, matrix, degree, normalize, dtype, library):
        super().__init__()
        dim = int(matrix.shape[1])
        self.dim = dim
        self.forward = ops.Custom(f"{library}:sh_forward", out_shape=lambda x: (x[0], dim),
                                  out_dtype=_same_as_first, func_type="aot")
        plain = NormalizedPolynomialHarmonics if normalize else PolynomialHarmonics
        self.vjp = _HarmonicsVjp(library, plain(matrix, degree, dtype))

    def construct(self, x):
        return self.forward(x)

    def bprop(self, x, out, dout):
        return (self.vjp(x, dout),)


def fused_harmonics(matrix, degree, normalize, dtype):
    """A :class:`FusedHarmonics` for these arguments, or None when it does not apply: a target other than CPU,
    a dtype other than float32 / float64, or no native kernels (:mod:`mindchemistry_e3.util._native`)."""
    if ms.get_context("device_target") != "CPU" or dtype not in (ms.float32, ms.float64):
        return None
    library = build_library(harmonics_source(matrix, degree, normalize), "spherical_harmonics")
    if library is None:
        return None
    return FusedHarmonics(matrix, degree, normalize, dtype, library)


__all__ = ["FusedHarmonics", "fused_harmonics"]
