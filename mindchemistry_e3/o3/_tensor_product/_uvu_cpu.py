r"""A weighted ``uvu`` tensor product with per-sample weights as two fused CPU kernels: :class:`FusedUvuProduct`.

The kernels (:mod:`._uvu_cpu_np`, compiled by :mod:`mindchemistry_e3.util._native`) run e3nn's formula row by row
in one pass forward and one pass for the gradient, where the plain-op lowering (the convolution plan without its
gather and sum) launches a few dozen kernels and moves every edge-sized intermediate through memory several times.

Derivatives: the forward's ``bprop`` is the ``tp_vjp`` kernel (first order). That kernel's own ``bprop`` (second
order, e.g. a loss on forces) is the autodiff of the plain-op product's gradient, so second order is exactly the
plain :class:`~mindchemistry_e3.o3.TensorProduct`'s.
"""
import mindspore as ms
from mindspore import nn, ops

from ...util._native import build_library, native_kernels
from ._uvu_cpu_np import uvu_kernel_support, uvu_source


class _PlainVjp(nn.Cell):
    """``(x1, x2, w, g) -> g dy/d(x1, x2, w)`` of the plain-op product, to be differentiated by autodiff."""

    def __init__(self, plain):
        super().__init__()
        self.plain = plain
        self.grad = ops.GradOperation(get_all=True, sens_param=True)

    def construct(self, x1, x2, w, g):
        return self.grad(self.plain)(x1, x2, w, g)


def _uvu_vjp(library, plain):
    """``tp_vjp(x1, x2, w, g)`` as a Custom op whose ``bprop`` is the autodiff of :class:`_PlainVjp` (second
    order). (A Cell with a custom ``bprop`` and a tuple output failed to differentiate twice in MindSpore 2.10:
    "TupleGetItem evaluator index should be in range[-3, 3), but got 3".)"""
    reference = _PlainVjp(plain)
    grad = ops.GradOperation(get_all=True, sens_param=True)

    def bprop(x1, x2, w, g, out, dout):
        return grad(reference)(x1, x2, w, g, dout)

    return ops.Custom(f"{library}:tp_vjp", out_shape=_vjp_shapes, out_dtype=_vjp_dtypes, func_type="aot",
                      bprop=bprop), reference


def _vjp_shapes(x1, x2, w, g):
    return x1, x2, w


def _vjp_dtypes(x1, x2, w, g):
    return x1, x1, x1


class FusedUvuProduct(nn.Cell):
    r"""e3nn's ``TensorProduct(..., shared_weights=False)`` of weighted ``uvu`` paths with multiplicity-1 second
    inputs, as fused CPU kernels (see the module doc). Built by :func:`fused_uvu_product`.

    Args:
        library (str): the compiled :func:`._uvu_cpu_np.uvu_source` of the product.
        dim_out (int): ``irreps_out.dim``.
        plain (mindspore.nn.Cell): the same product in plain ops, ``(x1, x2, w) -> y`` (second order).

    Inputs:
        - **x1** (Tensor) - shape ``(Z, irreps_in1.dim)``.
        - **x2** (Tensor) - shape ``(Z, irreps_in2.dim)``.
        - **w** (Tensor) - shape ``(Z, weight_numel)``, e3nn's flat layout.

    Outputs:
        Tensor of shape ``(Z, irreps_out.dim)``.

    Supported Platforms:
        ``CPU``
    """

    def __init__(self, library, dim_out, plain):
        super().__init__()
        self.forward = ops.Custom(f"{library}:tp_forward", out_shape=lambda x1, x2, w: (x1[0], dim_out),
                                  out_dtype=_first, func_type="aot")
        self.vjp, self.reference = _uvu_vjp(library, plain)

    def construct(self, x1, x2, w):
        return self.forward(x1, x2, w)

    def bprop(self, x1, x2, w, out, dout):
        return self.vjp(x1, x2, w, dout)


def _first(first, *_):
    return first


def fused_uvu_product(irreps_in1, irreps_in2, irreps_out, instructions, dtype, make_plain):
    """A :class:`FusedUvuProduct` for these normalised instructions, or None when it does not apply: a target other
    than CPU, a dtype other than float32 / float64, paths the kernels do not cover
    (:func:`._uvu_cpu_np.uvu_kernel_support`), or no native kernels.

    ``make_plain()`` builds the plain-op product (called with native kernels off)."""
    if ms.get_context("device_target") != "CPU" or dtype not in (ms.float32, ms.float64):
        return None
    if uvu_kernel_support(irreps_in1, irreps_in2, irreps_out, instructions) is not None:
        return None
    library = build_library(uvu_source(irreps_in1, irreps_in2, irreps_out, instructions), "uvu_product")
    if library is None:
        return None
    with native_kernels(False):
        plain = make_plain()
    return FusedUvuProduct(library, irreps_out.dim, plain)


__all__ = ["FusedUvuProduct", "fused_uvu_product"]
