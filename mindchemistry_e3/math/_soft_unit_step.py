r"""Smooth unit step :math:`\theta(x) e^{-1/x}` (:math:`C^\infty`, zero for :math:`x \le 0`).

Lowered to one ``where`` around an ``exp`` whose argument is made safe where the step is off (the "double where"
recipe), so that the value, the first and the second derivative are finite everywhere, including ``x = 0`` and
``0 < x`` tiny. Below :math:`x = 10^{-3}` the value :math:`e^{-1000}` already underflows to exactly ``0`` in
float64 (and float32), so the switch is placed there: the values equal e3nn's bit for bit while the gradients
never meet ``0 * inf``.
"""
import mindspore as ms
from mindspore import ops

_SWITCH = 1e-3  # exp(-1/x) == 0.0 exactly in float64 and float32 for 0 < x <= 1e-3


def soft_unit_step(x):
    r"""Smooth :math:`C^\infty` version of the unit step function, :math:`x \mapsto \theta(x) e^{-1/x}`.

    Works in PyNative, at top level in GRAPH_MODE and inside a Cell's ``construct``. Value, first and second
    derivatives are finite everywhere (zero for :math:`x \le 0`).

    Args:
        x (Tensor): any shape, floating dtype.

    Returns:
        Tensor of the shape and dtype of ``x``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> y = soft_unit_step(ms.Tensor(np.array([-1.0, 0.0, 1.0])))
        >>> np.round(y.asnumpy(), 6).tolist()
        [0.0, 0.0, 0.367879]
    """
    on = x > _SWITCH
    safe = ops.where(on, x, ops.ones_like(x))
    return ops.where(on, ops.exp(-ops.reciprocal(safe)), ops.zeros_like(x))


__all__ = ["soft_unit_step"]
