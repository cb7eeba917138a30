r"""The product of a stacked linear map as fused CPU kernels: :class:`FusedStacked` (in :func:`._stacked.stacked_blocks`).

The kernels (:mod:`._stacked_cpu_np`, compiled by :mod:`mindchemistry_e3.util._native`) run the plan's input
column map, the block product and the output column map in one pass over the rows, where the plain-op lowering
launches a transpose, gathers, a BatchMatMul, gathers and a transpose back -- and their gradients in every
derivative order.

Derivatives, first and second order, from kernels too: the forward's ``bprop`` is ``stk_vjp``; the map is bilinear
in the features and the block weights, so the ``bprop`` of ``stk_vjp`` is ``stk_vjp2``, one pass of ``vjp`` and
``forward`` at arguments swapped for their directions. (Third order is not supported: ``stk_vjp2`` has no
``bprop``.)

:func:`fused_stacked` returns the Cell only on a CPU target with native kernels available, for float32 and float64;
otherwise None, and the callers keep the plain-op lowering.
"""
import mindspore as ms
from mindspore import nn, ops

from ..util._native import build_library
from ._stacked_cpu_np import stacked_source, stacked_widths


def _first(x, *_):
    return x


def _stacked_ops(library, n_out, n_maps):
    """The ``stk_forward`` Custom op of ``library`` on the features and ``n_maps`` (1 to 3) flat weights, its
    gradient chain wired through the ``bprop``\\ s (written out per arity: a ``bprop`` takes named arguments)."""
    vjp2 = ops.Custom(f"{library}:stk_vjp2", out_shape=lambda f, *rest: (f,) + rest[:n_maps] + (rest[n_maps],),
                      out_dtype=lambda f, *rest: (f,) * (n_maps + 2), func_type="aot")
    if n_maps == 1:
        def vjp_bprop(f, w, g, out, dout):
            return vjp2(f, w, g, dout[0], dout[1])

        def forward_bprop(f, w, out, dout):
            return vjp(f, w, dout)
    elif n_maps == 2:
        def vjp_bprop(f, w, v, g, out, dout):
            return vjp2(f, w, v, g, dout[0], dout[1], dout[2])

        def forward_bprop(f, w, v, out, dout):
            return vjp(f, w, v, dout)
    elif n_maps == 3:
        def vjp_bprop(f, w, v, u, g, out, dout):
            return vjp2(f, w, v, u, g, dout[0], dout[1], dout[2], dout[3])

        def forward_bprop(f, w, v, u, out, dout):
            return vjp(f, w, v, u, dout)
    else:
        raise ValueError(f"FusedStacked: 1 to 3 maps, got {n_maps}")
    vjp = ops.Custom(f"{library}:stk_vjp", out_shape=lambda f, *rest: (f,) + rest[:n_maps],
                     out_dtype=lambda f, *rest: (f,) * (n_maps + 1), func_type="aot", bprop=vjp_bprop)
    return ops.Custom(f"{library}:stk_forward", out_shape=lambda f, *rest: (f[0], n_out), out_dtype=_first,
                      func_type="aot", bprop=forward_bprop)


class FusedStacked(nn.Cell):
    r"""``features [Z, n_in]`` and the flat weights of one to three maps through a
    :class:`~mindchemistry_e3.o3._stacked_np.StackedPlan` -> ``[Z, n_out]``, as fused CPU kernels (see the module
    doc): the block weights are assembled, and their gradient scattered back, inside the kernels.

    Args:
        plan (StackedPlan): the numpy plan.
        n_maps (int): the number of flat weights.
        library (str): its compiled :func:`._stacked_cpu_np.stacked_source`.

    Inputs:
        - **features** (Tensor) - ``[Z, n_in]``, ``Z > 0``.
        - **weights** (tuple[Tensor]) - the maps' flat weights.

    Outputs:
        Tensor ``[Z, n_out]``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> from mindchemistry_e3.o3._linear_plan import linear_plan, linear_stacked_plan
        >>> lp = linear_plan("2x0e + 1o", "0e + 1o")
        >>> cell = fused_stacked(linear_stacked_plan(lp), ms.float32, [lp.weight_numel])
        >>> w = ms.Tensor(np.ones(lp.weight_numel, np.float32))
        >>> cell is None or cell(ms.Tensor(np.ones((4, 5), np.float32)), (w,)).shape == (4, 4)
        True
    """

    def __init__(self, plan, n_maps, library):
        super().__init__()
        self.n_out = stacked_widths(plan)[1]
        self.forward = _stacked_ops(library, self.n_out, n_maps)

    def construct(self, features, weights):
        return self.forward(features, *weights)


def fused_stacked(plan, dtype, numel, weights=None):
    """A :class:`FusedStacked` of the numpy ``plan`` on flat weights of sizes ``numel`` (``weights``: the maps'
    ``(weight_index, weight_coef)`` of a sum), or None when it does not apply: a target other than CPU, a dtype
    other than float32 / float64, a plan the kernels do not take
    (:func:`._stacked_cpu_np.stacked_kernel_support`), or no native kernels (:mod:`mindchemistry_e3.util._native`)."""
    if plan is None or ms.get_context("device_target") != "CPU" or dtype not in (ms.float32, ms.float64):
        return None
    try:
        source = stacked_source(plan, numel, "float32" if dtype == ms.float32 else "float64", weights)
    except ValueError:  # a plan the kernels do not take (stacked_kernel_support says why)
        return None
    library = build_library(source, "stacked")
    if library is None:
        return None
    return FusedStacked(plan, len(numel), library)


__all__ = ["FusedStacked", "fused_stacked"]
