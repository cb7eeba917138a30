r"""A weighted ``uvu`` tensor product with per-sample weights, and its convolution, as two fused CPU kernels each:
:class:`FusedUvuProduct` (in :class:`~mindchemistry_e3.o3.TensorProduct`) and :class:`FusedUvuConv` (in
:class:`~mindchemistry_e3.o3.TensorProductConv`).

The kernels (:mod:`._uvu_cpu_np`, compiled by :mod:`mindchemistry_e3.util._native`) run e3nn's formula row by row
in one pass forward and one pass for the gradient, where the plain-op lowering (the convolution plan without its
gather and sum) launches a few dozen kernels and moves every edge-sized intermediate through memory several times.

Derivatives, first and second order, from kernels too: the forward's ``bprop`` is ``tp_vjp``; the product is
linear in each of ``x1``, ``x2``, ``w`` (and the gradient also in the cotangent ``g``), so the ``bprop`` of ``tp_vjp``
-- the second order of a loss on forces -- is a third kernel, ``tp_vjp2``, one pass that evaluates the product and
its gradient at arguments with one of them swapped for its direction (:func:`_uvu_ops`). (Third order is not
supported: ``tp_vjp2`` has no ``bprop``.)
"""
import mindspore as ms
from mindspore import nn, ops

from ...util._native import build_library
from ._uvu_cpu_np import uvu_kernel_support, uvu_source


def _uvu_ops(library, dim_out):
    r"""The ``tp_forward`` and ``tp_vjp`` Custom ops of ``library``, with their ``bprop``\ s.

    With :math:`S(x_1, x_2, w, g) = \langle g, y(x_1, x_2, w) \rangle` multilinear, ``tp_vjp`` is
    :math:`(\partial_{x_1} S, \partial_{x_2} S, \partial_w S)`, and :math:`\langle (d_1, d_2, d_w), \mathrm{vjp}
    \rangle = S(d_1, x_2, w, g) + S(x_1, d_2, w, g) + S(x_1, x_2, d_w, g)`: ``tp_vjp2(x1, x2, w, g, d1, d2, dw)``
    returns its gradient with respect to ``(x1, x2, w, g)`` in one pass.
    """

    def forward_bprop(x1, x2, w, out, dout):
        return vjp(x1, x2, w, dout)

    def vjp_bprop(x1, x2, w, g, out, dout):
        d1, d2, dw = dout
        return vjp2(x1, x2, w, g, d1, d2, dw)

    forward = ops.Custom(f"{library}:tp_forward", out_shape=lambda x1, x2, w: (x1[0], dim_out),
                         out_dtype=_first, func_type="aot", bprop=forward_bprop)
    vjp = ops.Custom(f"{library}:tp_vjp", out_shape=_vjp_shapes, out_dtype=_vjp_dtypes, func_type="aot",
                     bprop=vjp_bprop)
    vjp2 = ops.Custom(f"{library}:tp_vjp2", out_shape=_vjp2_shapes, out_dtype=_vjp2_dtypes, func_type="aot")
    return forward, vjp


_ZEROS_LIKE = ops.ZerosLike()  # a primitive: the bprops are differentiated again


def _conv_ops(library, dim_out):
    """The ``conv_forward``, ``conv_vjp`` and ``conv_vjp2`` Custom ops of ``library`` wired as in :func:`_uvu_ops`
    (the convolution is multilinear in ``x``, ``a``, ``w`` as well); the edge indices get zero gradients."""

    def forward_bprop(x, a, w, src, dst, out, dout):
        dx, da, dw = vjp(x, a, w, src, dst, dout)
        return dx, da, dw, _ZEROS_LIKE(src), _ZEROS_LIKE(dst)

    def vjp_bprop(x, a, w, src, dst, g, out, dout):
        d1, d2, dw = dout
        gx, ga, gw, gg = vjp2(x, a, w, src, dst, g, d1, d2, dw)
        return gx, ga, gw, _ZEROS_LIKE(src), _ZEROS_LIKE(dst), gg

    forward = ops.Custom(f"{library}:conv_forward", out_shape=lambda x, a, w, src, dst: (x[0], dim_out),
                         out_dtype=_first, func_type="aot", bprop=forward_bprop)
    vjp = ops.Custom(f"{library}:conv_vjp", out_shape=_vjp_shapes, out_dtype=_vjp_dtypes, func_type="aot",
                     bprop=vjp_bprop)
    vjp2 = ops.Custom(f"{library}:conv_vjp2", out_shape=_conv_vjp2_shapes, out_dtype=_vjp2_dtypes,
                      func_type="aot")
    return forward, vjp


def _vjp_shapes(x1, x2, w, *_):
    return x1, x2, w


def _vjp_dtypes(x1, x2, w, *_):
    return x1, x1, x1


def _vjp2_shapes(x1, x2, w, g, *_):
    return x1, x2, w, g


def _conv_vjp2_shapes(x, a, w, src, dst, g, *_):
    return x, a, w, g


def _vjp2_dtypes(x1, *_):
    return x1, x1, x1, x1


def _first(first, *_):
    return first


class FusedUvuProduct(nn.Cell):
    r"""e3nn's ``TensorProduct(..., shared_weights=False)`` of weighted ``uvu`` paths with multiplicity-1 second
    inputs, as fused CPU kernels (see the module doc). Built by :func:`fused_uvu_product`.

    Args:
        library (str): the compiled :func:`._uvu_cpu_np.uvu_source` of the product.
        dim_out (int): ``irreps_out.dim``.

    Inputs:
        - **x1** (Tensor) - shape ``(Z, irreps_in1.dim)``.
        - **x2** (Tensor) - shape ``(Z, irreps_in2.dim)``.
        - **w** (Tensor) - shape ``(Z, weight_numel)``, e3nn's flat layout.

    Outputs:
        Tensor of shape ``(Z, irreps_out.dim)``.

    Supported Platforms:
        ``CPU``
    """

    def __init__(self, library, dim_out):
        super().__init__()
        self.forward, self.vjp = _uvu_ops(library, dim_out)

    def construct(self, x1, x2, w):
        return self.forward(x1, x2, w)


class FusedUvuConv(nn.Cell):
    r"""e3nn's convolution ``scale * segment_sum(TensorProduct(x[src], a, w), dst, N)`` of weighted ``uvu`` paths with
    multiplicity-1 edge attributes, as fused CPU kernels: the gather of the source rows and the sum at the
    destinations happen inside the loops (see the module doc). Built by :func:`fused_uvu_product`.

    Args:
        library (str): the compiled :func:`._uvu_cpu_np.uvu_source` of the convolution (``conv=True``).
        dim_out (int): ``irreps_out.dim``.

    Inputs:
        - **x** (Tensor) - shape ``(N, irreps_in1.dim)``, node features.
        - **a** (Tensor) - shape ``(E, irreps_in2.dim)``, edge attributes.
        - **w** (Tensor) - shape ``(E, weight_numel)``, e3nn's flat layout.
        - **src**, **dst** (Tensor) - int32 or int64 ``(E,)`` in ``[0, N)`` (else the kernel fails).

    Outputs:
        Tensor of shape ``(N, irreps_out.dim)``.

    Supported Platforms:
        ``CPU``
    """

    def __init__(self, library, dim_out):
        super().__init__()
        self.forward, self.vjp = _conv_ops(library, dim_out)

    def construct(self, x, a, w, src, dst):
        return self.forward(x, a, w, src, dst)


def fused_uvu_product(irreps_in1, irreps_in2, irreps_out, instructions, dtype, conv=False, scale=1.0):
    """A :class:`FusedUvuProduct` (with ``conv``: a :class:`FusedUvuConv` of factor ``scale``) for these normalised
    instructions, or None when it does not apply: a target other than CPU, a dtype other than float32 / float64,
    paths the kernels do not cover (:func:`._uvu_cpu_np.uvu_kernel_support`), or no native kernels."""
    if ms.get_context("device_target") != "CPU" or dtype not in (ms.float32, ms.float64):
        return None
    if uvu_kernel_support(irreps_in1, irreps_in2, irreps_out, instructions) is not None:
        return None
    source = uvu_source(irreps_in1, irreps_in2, irreps_out, instructions, conv, scale,
                        "float64" if dtype == ms.float64 else "float32")
    library = build_library(source, "uvu_conv" if conv else "uvu_product")
    if library is None:
        return None
    return (FusedUvuConv if conv else FusedUvuProduct)(library, irreps_out.dim)


__all__ = ["FusedUvuProduct", "FusedUvuConv", "fused_uvu_product"]
