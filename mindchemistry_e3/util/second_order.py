r"""Refuse second-order gradients in PYNATIVE_MODE, which MindSpore 2.10 gets silently wrong.

A force loss :math:`L = |\partial E / \partial x|^2` differentiated with respect to the weights needs the
gradient of a gradient. MindSpore 2.10's PyNative autodiff returns wrong values for it (dropped paths: zeros,
0.1 % errors or wrong signs, depending on the ops) or fails on a shape error, while a compiled graph -- GRAPH_MODE,
or ``mindspore.jit`` around the function that takes both gradients -- returns the finite-difference values.
Compiling the Cells one by one does not help: a PyNative function calling several compiled Cells was measured
wrong too, so the library cannot make the PyNative case right from inside a Cell; it refuses it instead.

How it is detected: a Cell with :class:`SecondOrderGuard` (or any Cell that calls :func:`guard_second_order` on
its outputs), called in PyNative while a gradient is being recorded, hooks its output Tensors. The hook runs when
a backward pass goes through the output; it raises :class:`PyNativeSecondOrderError` if that backward pass is
itself being recorded for another gradient -- exactly the second-order case. Plain forward calls, first-order
gradients (forces, or weight gradients of the energy) and everything inside a compiled graph (where ``__call__``
is not executed) are untouched. The detection uses MindSpore 2.10's internal ``_pynative_executor.grad_flag()``;
``tests/util/test_second_order.py`` checks it on each supported version.

>>> import mindspore as ms
>>> issubclass(PyNativeSecondOrderError, RuntimeError)
True
"""
import mindspore as ms
from mindspore.common.api import _pynative_executor

__all__ = ["PyNativeSecondOrderError", "SecondOrderGuard", "guard_second_order"]

MESSAGE = ("{name}: a second-order gradient (a gradient of a gradient, e.g. a force loss |dE/dx|^2 differentiated "
           "with respect to the weights) was requested in PYNATIVE_MODE, where MindSpore 2.10 computes it wrongly. "
           "Use GRAPH_MODE (mindspore.set_context(mode=mindspore.GRAPH_MODE)) or compile the whole loss, inner "
           "gradient included, with mindspore.jit (or an nn.Cell train step run in GRAPH_MODE).")


class PyNativeSecondOrderError(RuntimeError):
    """A second-order gradient through a Cell of the library was requested in PYNATIVE_MODE."""


class _Hook:
    """Output hook of one Cell call: raise if the backward pass through it is being recorded."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __call__(self, grad):
        if _pynative_executor.grad_flag():
            raise PyNativeSecondOrderError(MESSAGE.format(name=self.name))
        return grad


def _tensors(outputs):
    if isinstance(outputs, ms.Tensor):
        yield outputs
    elif isinstance(outputs, (tuple, list)):
        for out in outputs:
            yield from _tensors(out)
    elif isinstance(outputs, dict):
        for out in outputs.values():
            yield from _tensors(out)


def guard_second_order(cell, outputs):
    """Hook ``outputs`` of ``cell`` so that a PyNative second-order gradient through them raises (see the module
    doc); a no-op outside PyNative or when no gradient is being recorded. Returns ``outputs``.

    Call it from ``__call__`` (not from ``construct``), after the Cell has run.

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> out = ms.Tensor(np.ones(2), ms.float32)
        >>> guard_second_order(ms.nn.Cell(), out) is out
        True
    """
    if not _pynative_executor.grad_flag() or ms.get_context("mode") != ms.PYNATIVE_MODE:
        return outputs
    hook = _Hook(type(cell).__name__)
    for tensor in _tensors(outputs):
        try:
            tensor.register_hook(hook)
        except RuntimeError:  # an output that does not require grad: nothing flows back through it
            pass
    return outputs


class SecondOrderGuard:
    """Mixin for ``nn.Cell`` subclasses (put it first: ``class C(SecondOrderGuard, nn.Cell)``): their PyNative
    second-order gradients raise :class:`PyNativeSecondOrderError` instead of being silently wrong.

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> class Square(SecondOrderGuard, ms.nn.Cell):
        ...     def construct(self, x):
        ...         return x * x
        >>> Square()(ms.Tensor(np.array([3.0]), ms.float32)).asnumpy().tolist()
        [9.0]
    """

    def __call__(self, *args, **kwargs):
        return guard_second_order(self, super().__call__(*args, **kwargs))
