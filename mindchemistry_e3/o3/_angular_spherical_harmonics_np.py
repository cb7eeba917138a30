r"""Plan of the spherical harmonics as functions of the Euler angles (no MindSpore): e3nn's ``Legendre``
polynomials and the constants of ``SphericalHarmonicsAlphaBeta``.

With :math:`z = \cos\beta` and :math:`y = \sin\beta` e3nn's associated Legendre functions are the polynomials

.. math::

    P^l_m(z, y) = \sqrt{\frac{2l+1}{4\pi} \frac{(l-m)!}{(l+m)!}}\; \frac{y^m}{2^l\, l!}
    \frac{d^{l+m}}{dz^{l+m}} (z^2 - 1)^l, \qquad m = |m| \ge 0,

(the Condon-Shortley phase and :math:`(-1)^l` removed, :math:`P^l_{-m} = P^l_m`). Their coefficients are exact
rationals (:class:`fractions.Fraction`) times one square root, evaluated once in float64.

>>> monomials, coefficients = legendre_plan((1,))
>>> monomials, coefficients.shape
(((0, 1), (1, 0)), (2, 3))
"""
import functools
import math
from fractions import Fraction

import numpy as np

__all__ = ["legendre_plan", "alpha_beta_plan", "as_degrees"]


def _legendre_terms(l, m):
    """``{(power of z, power of y): coefficient}`` of :math:`P^l_m` (float64)."""
    scale = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - m) / math.factorial(l + m))
    terms = {}
    order = l + m
    for k in range(l + 1):  # (z^2 - 1)^l = sum_k C(l, k) z^(2k) (-1)^(l-k)
        if 2 * k < order:
            continue
        c = Fraction(math.comb(l, k) * (-1) ** (l - k) * math.factorial(2 * k), math.factorial(2 * k - order))
        c /= 2 ** l * math.factorial(l)
        terms[(2 * k - order, m)] = float(c) * scale
    return terms


def as_degrees(l):
    """e3nn's degree list of an int, a list of ints, or an Irreps-like list of ``(mul, (l, p))``."""
    if isinstance(l, (int, np.integer)) and not isinstance(l, bool):
        return (int(l),)
    out = []
    for item in l:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            out.append(int(item))
        else:  # (mul, ir) of an Irreps
            mul, ir = item
            out.extend([int(ir[0])] * int(mul))
    if not out or min(out) < 0:
        raise ValueError(f"degrees must be non-negative integers, got {l!r}")
    return tuple(out)


@functools.lru_cache(maxsize=None)
def legendre_plan(ls):
    r"""``(monomials, C)``: the powers ``(a, b)`` of :math:`z^a y^b` used, and ``C`` of shape
    ``(len(monomials), sum(2l+1))`` with column ``(l, m)`` holding the coefficients of :math:`P^l_{|m|}`."""
    columns = []
    for l in ls:
        legendre = [_legendre_terms(l, m) for m in range(l + 1)]
        columns.extend(legendre[abs(m)] for m in range(-l, l + 1))
    monomials = tuple(sorted({key for column in columns for key in column}))
    index = {key: i for i, key in enumerate(monomials)}
    coefficients = np.zeros((len(monomials), len(columns)))
    for j, column in enumerate(columns):
        for key, c in column.items():
            coefficients[index[key], j] = c
    coefficients.setflags(write=False)
    return monomials, coefficients


@functools.lru_cache(maxsize=None)
def alpha_beta_plan(ls, normalization):
    r"""Constants of :math:`Y^l_m(\alpha, \beta) = S_m(\alpha) P^l_{|m|}(\cos\beta, \sin\beta)`:
    ``(columns, factor, how)`` -- the column of :math:`S` (over :math:`m = -l_{max} .. l_{max}`) each output
    component takes, and e3nn's normalisation: nothing (``'integral'``), times :math:`\sqrt{4\pi}`
    (``'component'``, ``how='mul'``) or divided by :math:`\sqrt{2l+1}/\sqrt{4\pi}` per component (``'norm'``,
    ``how='div'``)."""
    if normalization not in ("integral", "component", "norm"):
        raise ValueError(f"normalization must be 'integral', 'component' or 'norm', got {normalization!r}")
    lmax = max(ls)
    columns = np.concatenate([np.arange(lmax - l, lmax + l + 1) for l in ls]).astype(np.int32)
    if normalization == "integral":
        return columns, np.ones(1), "none"
    if normalization == "component":
        return columns, np.array([math.sqrt(4 * math.pi)]), "mul"
    factor = np.concatenate([np.full(2 * l + 1, math.sqrt(2 * l + 1) / math.sqrt(4 * math.pi)) for l in ls])
    return columns, factor, "div"
