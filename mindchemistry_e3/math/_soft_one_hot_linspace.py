r"""Projection of a scalar on a basis of :math:`N` smooth bumps spread over ``[start, end]`` (e3nn's
``soft_one_hot_linspace``), typically the radial embedding of edge lengths.

With centres :math:`v_i` from a linspace of step :math:`s` and :math:`d_i = (x - v_i)/s`:

* ``gaussian``: :math:`e^{-d_i^2} / 1.12`
* ``cosine``: :math:`\cos(\pi d_i / 2)` on :math:`|d_i| < 1`, else 0
* ``smooth_finite``: :math:`1.14136\, e^2\, u(d_i + 1)\, u(1 - d_i)` with :math:`u` = :func:`soft_unit_step`
* ``fourier``: with :math:`t = (x - \text{start})/(\text{end} - \text{start})`, :math:`\cos(\pi i t)/\sqrt{1/4 + N/2}`
  (:math:`i = 0..N-1`), or with ``cutoff`` :math:`\sin(\pi i t)/\sqrt{1/4 + N/2}` on :math:`0 < t < 1`
  (:math:`i = 1..N`)
* ``bessel``: with :math:`r = x - \text{start}`, :math:`c = \text{end} - \text{start}`,
  :math:`\sqrt{2/c}\,\sin(\pi i r / c) / r` (:math:`i = 1..N`), with ``cutoff`` only on :math:`0 < r < c`.

``cutoff=True`` puts the centres at the interior points of a linspace of :math:`N + 2` points, so every
function vanishes (smoothly for ``smooth_finite``) outside ``(start, end)``.

The plan (centres, step, scale factors) is computed in numpy float64 (:func:`soft_one_hot_linspace_plan`); the
MindSpore part is a handful of elementwise ops. Masks are applied with ``where`` and every division is made safe
("double where"), so values and first/second derivatives are finite everywhere. One deliberate difference to
e3nn: at :math:`r = 0` the ``bessel`` basis returns its limit :math:`\sqrt{2/c}\,\pi i / c` (0 with ``cutoff``)
instead of NaN.
"""
import functools
import math

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..util.dtype import constant, check_float_dtype
from ..util.second_order import SecondOrderGuard
from ._soft_unit_step import soft_unit_step

BASES = ("gaussian", "cosine", "smooth_finite", "fourier", "bessel")


def _torch_style_linspace(start, end, steps):
    """float64 linspace computed the way torch does (from both ends), so the centres match e3nn's bit for bit."""
    if steps == 1:
        return np.array([start], dtype=np.float64)
    step = (end - start) / (steps - 1)
    i = np.arange(steps, dtype=np.float64)
    half = steps // 2
    return np.where(i < half, start + step * i, end - step * (steps - 1 - i))


@functools.lru_cache(maxsize=None)
def soft_one_hot_linspace_plan(start, end, number, basis, cutoff):
    """The float64 constants of :func:`soft_one_hot_linspace` as a dict of numpy arrays (no MindSpore).

    Raises ValueError for an unknown ``basis``, ``cutoff`` not a bool, ``number < 1`` or ``end <= start``.

    >>> sorted(soft_one_hot_linspace_plan(0.0, 1.0, 4, "gaussian", False))
    ['scale', 'step', 'values']
    """
    if cutoff not in (True, False):
        raise ValueError(f"cutoff must be specified as True or False, got {cutoff!r}")
    if basis not in BASES:
        raise ValueError(f'basis="{basis}" is not a valid entry; expected one of {BASES}')
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or number < 1:
        raise ValueError(f"number must be a positive integer, got {number!r}")
    start, end, number = float(start), float(end), int(number)
    if not end > start:
        raise ValueError(f"soft_one_hot_linspace needs end > start, got start={start}, end={end}")
    def f64(v):  # shape (1,), not 0-d: graph mode turns a 0-d numpy array into a float32 Python scalar
        return np.array([v], dtype=np.float64)

    if basis in ("gaussian", "cosine", "smooth_finite"):
        values = _torch_style_linspace(start, end, number + 2 if cutoff else number)
        if len(values) < 2:
            raise ValueError(f"basis '{basis}' without cutoff needs number >= 2, got {number}")
        step = values[1] - values[0]
        if cutoff:
            values = values[1:-1]
        scale = {"gaussian": 1.12, "cosine": math.pi / 2, "smooth_finite": 1.14136 * math.exp(2.0)}[basis]
        return {"values": values, "step": f64(step), "scale": f64(scale)}
    if basis == "fourier":
        i = np.arange(1, number + 1, dtype=np.float64) if cutoff else np.arange(number, dtype=np.float64)
        return {"start": f64(start), "width": f64(end - start),
                "freq": math.pi * i, "norm": f64(math.sqrt(0.25 + number / 2))}
    c = end - start
    return {"start": f64(start), "width": f64(c),
            "roots": np.arange(1, number + 1, dtype=np.float64) * math.pi, "amp": f64(math.sqrt(2 / c)),
            "limit": np.arange(1, number + 1, dtype=np.float64) * math.pi / c * math.sqrt(2 / c)}


def _evaluate(x, basis, cutoff, k):
    """The MindSpore lowering; ``k`` is the plan as a dict of Tensors of ``x``'s dtype."""
    x = ops.expand_dims(x, -1)
    if basis in ("gaussian", "cosine", "smooth_finite"):
        diff = (x - k["values"]) / k["step"]
        if basis == "gaussian":
            return ops.exp(-(diff * diff)) / k["scale"]
        if basis == "cosine":
            inside = ops.logical_and(diff < 1, diff > -1)
            return ops.where(inside, ops.cos(k["scale"] * diff), ops.zeros_like(diff))
        return k["scale"] * soft_unit_step(diff + 1) * soft_unit_step(1 - diff)
    if basis == "fourier":
        t = (x - k["start"]) / k["width"]
        if not cutoff:
            return ops.cos(k["freq"] * t) / k["norm"]
        out = ops.sin(k["freq"] * t) / k["norm"]
        return ops.where(ops.logical_and(t > 0, t < 1), out, ops.zeros_like(out))
    r = x - k["start"]
    zero = r == 0
    safe = ops.where(zero, ops.ones_like(r), r)
    out = k["amp"] * ops.sin(k["roots"] * safe / k["width"]) / safe
    if cutoff:
        inside = ops.logical_and(r > 0, r / k["width"] < 1)
        return ops.where(inside, out, ops.zeros_like(out))
    return ops.where(zero, k["limit"] + ops.zeros_like(out), out)


def _tensors(plan, dtype):
    return {name: constant(value, dtype) for name, value in plan.items()}


def soft_one_hot_linspace(x, start, end, number, basis=None, cutoff=None):
    r"""Projection of ``x`` on ``number`` basis functions spread over ``[start, end]`` (see the module doc).

    The constants are built in float64 and cast to ``x``'s dtype. Works inside a graph-mode ``construct`` too;
    the Cell :class:`SoftOneHotLinspace` builds them once instead.

    Args:
        x (Tensor): shape ``(...)``.
        start (float): lowest centre (or the left end with ``cutoff``).
        end (float): highest centre (or the right end with ``cutoff``).
        number (int): number of basis functions :math:`N`.
        basis (str): one of ``'gaussian', 'cosine', 'smooth_finite', 'fourier', 'bessel'``.
        cutoff (bool): whether every function vanishes outside ``(start, end)``.

    Returns:
        Tensor of shape ``(..., N)``.

    Raises:
        ValueError: unknown ``basis``, ``cutoff`` not given, ``number < 1`` or ``end <= start``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> y = soft_one_hot_linspace(ms.Tensor(np.array([0.5])), 0.0, 1.0, 3, basis="gaussian", cutoff=False)
        >>> y.shape
        (1, 3)
    """
    plan = soft_one_hot_linspace_plan(start, end, number, basis, cutoff)
    consts = {}
    for name in plan:
        consts[name] = ms.Tensor(plan[name]).astype(x.dtype)
    return _evaluate(x, basis, cutoff, consts)


class SoftOneHotLinspace(SecondOrderGuard, nn.Cell):
    r"""Cell form of :func:`soft_one_hot_linspace` with its constants built once in ``dtype``.

    Args:
        start (float): lowest centre (or the left end with ``cutoff``).
        end (float): highest centre (or the right end with ``cutoff``).
        number (int): number of basis functions :math:`N`.
        basis (str): one of ``'gaussian', 'cosine', 'smooth_finite', 'fourier', 'bessel'``.
        cutoff (bool): whether every function vanishes outside ``(start, end)``.
        dtype (mindspore.dtype): dtype of the constants (and of the expected input). Default: the default dtype
            (``get_default_dtype()``).

    Inputs:
        - **x** (Tensor) - shape ``(...)``.

    Outputs:
        Tensor of shape ``(..., N)``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> emb = SoftOneHotLinspace(0.0, 5.0, 8, basis="smooth_finite", cutoff=True)
        >>> emb(ms.Tensor(np.array([1.0, 2.0], np.float32))).shape
        (2, 8)
    """

    def __init__(self, start, end, number, basis=None, cutoff=None, *, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        plan = soft_one_hot_linspace_plan(start, end, number, basis, cutoff)
        self.start, self.end, self.number, self.basis, self.cutoff = float(start), float(end), int(number), basis, cutoff
        self.consts = _tensors(plan, dtype)

    def construct(self, x):
        return _evaluate(x, self.basis, self.cutoff, self.consts)

    def extend_repr(self):
        return (f"start={self.start}, end={self.end}, number={self.number}, basis={self.basis!r}, "
                f"cutoff={self.cutoff}")


__all__ = ["soft_one_hot_linspace", "soft_one_hot_linspace_plan", "SoftOneHotLinspace"]
