r"""A scaled activation :math:`c f(x)` as fused CPU kernels, differentiable twice: :class:`FusedActivation`.

The kernels of :mod:`._activation_cpu_np` as MindSpore AOT custom ops, one per derivative order: ``act_forward``,
whose ``bprop`` is ``act_d1`` (:math:`g c f'(x)`), whose ``bprop`` is ``act_d2`` (its gradient with respect to ``x``
and ``g``). Three kernels for the value, the forces and the parameter gradient of a force-trained model, where the
plain ops launch about twenty. Third order is not supported (``act_d2`` has no ``bprop``).

:func:`fused_activation` returns the Cell only on a CPU target with native kernels available
(:mod:`mindchemistry_e3.util._native`) and an activation it knows (:data:`._activation_cpu_np.NATIVE_ACTIVATIONS`);
otherwise None, and the caller keeps its plain ops -- which also run inputs the kernels do not take (float16 under a
precision policy, empty ones: :func:`~mindchemistry_e3.util._cell.kernel_takes`).
"""
import mindspore as ms
from mindspore import nn, ops

from ..util._native import build_library
from ._activation_cpu_np import NATIVE_ACTIVATIONS, activation_source


def _same(x, *_):
    return x


def _pair(x, *_):
    return (x, x)


def _activation_ops(library):
    """The ``act_forward`` Custom op of ``library``, its gradient chain wired through the ``bprop``\\ s."""
    d2 = ops.Custom(f"{library}:act_d2", out_shape=_pair, out_dtype=_pair, func_type="aot")

    def d1_bprop(x, g, out, dout):
        return d2(x, g, dout)

    d1 = ops.Custom(f"{library}:act_d1", out_shape=_same, out_dtype=_same, func_type="aot", bprop=d1_bprop)

    def forward_bprop(x, out, dout):
        return (d1(x, dout),)

    return ops.Custom(f"{library}:act_forward", out_shape=_same, out_dtype=_same, func_type="aot",
                      bprop=forward_bprop)


class FusedActivation(nn.Cell):
    r""":math:`c f(x)` elementwise, as fused CPU kernels to second order (see the module doc).

    Args:
        name (str): the activation, one of ``silu``, ``sigmoid``, ``tanh``.
        scale (float): the factor :math:`c`.
        library (str): the compiled :func:`._activation_cpu_np.activation_source` of ``name`` and ``scale``.

    Inputs:
        - **x** (Tensor) - any shape, float32 or float64, not empty.

    Outputs:
        Tensor of the shape and dtype of ``x``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> cell = fused_activation(ms.ops.tanh, 2.0)
        >>> cell is None or round(float(cell(ms.Tensor([0.5], ms.float64))[0]), 6) == 0.924234
        True
    """

    def __init__(self, name, scale, library):
        super().__init__()
        self.name = name
        self.scale = float(scale)
        self.forward = _activation_ops(library)

    def extend_repr(self):
        return f"{self.name}, scale={self.scale!r}"

    def construct(self, x):
        return self.forward(x)


def fused_activation(f, scale=1.0):
    """A :class:`FusedActivation` of ``scale * f``, or None when it does not apply: a target other than CPU, an
    activation without a kernel (known by :func:`mindchemistry_e3.math.activation_name`), or no native kernels."""
    from ._normalize_activation import activation_name  # (that module builds on this one)

    name = activation_name(f)
    if name not in NATIVE_ACTIVATIONS or ms.get_context("device_target") != "CPU":
        return None
    library = build_library(activation_source(name, scale), f"activation_{name}")
    if library is None:
        return None
    return FusedActivation(name, scale, library)


__all__ = ["FusedActivation", "fused_activation"]
