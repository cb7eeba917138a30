r"""Bessel radial basis of DimeNet (Klicpera et al., ICLR 2020, eq. 7), as ``e3nn.math.bessel``:

.. math:: B_n(x) = \sqrt{2 / x_{max}}\; \frac{\sin(n \pi x / x_{max})}{x}, \qquad n = 1..N,

with its limit :math:`\sqrt{2/x_{max}}\, n\pi/x_{max}` at :math:`x = 0` (double ``where``: finite gradients there).
"""
import functools
import math

import numpy as np
import mindspore as ms
from mindspore import ops



@functools.lru_cache(maxsize=None)
def _constants(n, x_max):
    """float64 plan (frequencies, amplitude of shape (1,)); computed in Python even when called from graph code."""
    return np.arange(1, n + 1, dtype=np.float64) * math.pi / x_max, np.array([math.sqrt(2.0 / x_max)])


def bessel(x, n, x_max=1.0):
    r"""Bessel basis functions :math:`B_1..B_n` of ``x`` (shape ``(...)`` -> ``(..., n)``).

    Args:
        x (Tensor): input of shape ``(...)``; constants take its dtype.
        n (int): number of basis functions.
        x_max (float): the cutoff radius :math:`x_{max}`.

    Returns:
        Tensor of shape ``(..., n)``.

    Raises:
        ValueError: ``n`` not a positive int or ``x_max <= 0``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> bessel(ms.Tensor(np.array([0.0, 0.5])), 3).shape
        (2, 3)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"bessel: n must be a positive integer, got {n!r}")
    if not x_max > 0:
        raise ValueError(f"bessel: x_max must be positive, got {x_max!r}")
    # the plan is computed by an lru_cache'd (hence not parsed) function: graph mode evaluates Python float
    # arithmetic written inline in float32, and turns a 0-d numpy array into a float32 scalar
    freq, amp = _constants(n, float(x_max))
    freq = ms.Tensor(freq).astype(x.dtype)
    amp = ms.Tensor(amp).astype(x.dtype)
    x = ops.expand_dims(x, -1)
    zero = x == 0
    safe = ops.where(zero, ops.ones_like(x), x)
    out = ops.where(zero, freq + ops.zeros_like(freq * x), ops.sin(freq * safe) / safe)
    return amp * out


__all__ = ["bessel"]
