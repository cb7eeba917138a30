r"""Plan of the sphere and SO(3) grids in numpy float64 (no MindSpore): grid points, quadrature weights,
e3nn's Legendre functions and :math:`S^l(\alpha)`, and the matrices of ``ToS2Grid`` / ``FromS2Grid`` / ``SO3Grid``.

The grid of e3nn 0.6.0 on the sphere is

.. math::

    x_{ij} = (\sin\beta_i \sin\alpha_j, \cos\beta_i, \sin\beta_i \cos\alpha_j), \quad
    \beta_i = \pi (i + \tfrac12) / N, \quad \alpha_j = 2\pi j / M

and a signal :math:`f = \sum_l F^l \cdot Y^l` is :math:`f(\beta, \alpha) = \sum_{l, m} F^l_m P^l_{|m|}(\cos\beta)
S_m(\alpha)`, with :math:`S_m = \sqrt2 \sin(|m|\alpha)` for :math:`m < 0`, :math:`1` for :math:`m = 0` and
:math:`\sqrt2 \cos(m\alpha)` for :math:`m > 0`. Everything is cached per argument and read-only.

>>> betas, alphas = s2_grid_np(4, 5)
>>> betas.shape, alphas.shape
((4,), (5,))
"""
import functools
import math
from fractions import Fraction

import numpy as np

from ._so3_np import wigner_D

NORMALIZATIONS = ("norm", "component", "integral")


def _frozen(a):
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _check_res(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@functools.lru_cache(maxsize=None)
def s2_grid_np(res_beta, res_alpha):
    r"""``(betas, alphas)`` of the grid: :math:`\beta_i = \pi(i + 1/2)/N`, :math:`\alpha_j = 2\pi j/M`.

    >>> s2_grid_np(2, 2)[1].tolist() == [0.0, math.pi]
    True
    """
    res_beta, res_alpha = _check_res(res_beta, "res_beta"), _check_res(res_alpha, "res_alpha")
    betas = (np.arange(res_beta) + 0.5) / res_beta * math.pi
    alphas = np.arange(res_alpha) / res_alpha * 2 * math.pi
    return _frozen(betas), _frozen(alphas)


@functools.lru_cache(maxsize=None)
def quadrature_weights(b):
    r"""Quadrature weights of the Kostelec-Rockmore grid with :math:`2b` values of :math:`\beta`, shape ``(2b,)``,
    normalised as e3nn does (divided by :math:`2 (2b)^2`).

    >>> w = quadrature_weights(4); w.shape, round(float(w.sum()) * 8 ** 2, 12)
    ((8,), 1.0)
    """
    b = _check_res(b, "b")
    k = np.arange(b)
    j = np.arange(2 * b)[:, None]
    w = (2.0 / b) * np.sin(math.pi * (2.0 * j[:, 0] + 1.0) / (4.0 * b)) * (
        (1.0 / (2 * k + 1)) * np.sin((2 * j + 1) * (2 * k + 1) * math.pi / (4.0 * b))
    ).sum(1)
    return _frozen(w / (2.0 * (2 * b) ** 2))


@functools.lru_cache(maxsize=None)
def _legendre_terms(l, m):
    """``[(c, z_power, y_power)]`` of e3nn's normalised associated Legendre function (y = sin, z = cos)."""
    # d^{l+m}/dz^{l+m} (z^2 - 1)^l = sum_k C(l, k) (-1)^(l-k) (2k)! / (2k - l - m)! z^(2k - l - m)
    norm2 = Fraction(2 * l + 1) * Fraction(math.factorial(l - m), math.factorial(l + m))
    scale = math.sqrt(norm2 / 4) / math.sqrt(math.pi) / (2 ** l * math.factorial(l))
    terms = []
    for k in range(l + 1):
        power = 2 * k - l - m
        if power < 0:
            continue
        c = math.comb(l, k) * (-1) ** (l - k) * math.factorial(2 * k) // math.factorial(power)
        terms.append((c * scale, power, m))
    return tuple(terms)


def legendre_np(ls, z, y):
    r"""e3nn's ``Legendre(ls)(z, y)``: for each ``l`` the :math:`2l+1` values :math:`P^l_{|m|}`, ``m = -l..l``,
    with :math:`z = \cos\beta`, :math:`y = \sin\beta`; shape ``(..., sum(2l+1))``.

    :math:`P^l_m = \sqrt{\frac{2l+1}{4\pi}\frac{(l-m)!}{(l+m)!}} \frac{y^m}{2^l l!}
    \frac{d^{l+m}}{dz^{l+m}}(z^2-1)^l`.

    >>> float(legendre_np([0], np.array(1.0), np.array(0.0))[0]) == 0.5 / math.sqrt(math.pi)
    True
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out = []
    for l in ls:
        per_m = []
        for m in range(l + 1):
            val = np.zeros(np.broadcast(z, y).shape)
            for c, zn, yn in _legendre_terms(l, m):
                val = val + c * z ** zn * y ** yn
            per_m.append(val)
        out += [per_m[abs(m)] for m in range(-l, l + 1)]
    return np.stack(out, axis=-1)


def spherical_harmonics_alpha_np(l, alpha):
    r""":math:`S^l(\alpha)`: ``[sqrt2 sin(l a), ..., sqrt2 sin(a), 1, sqrt2 cos(a), ..., sqrt2 cos(l a)]``,
    shape ``(..., 2l+1)``.

    >>> spherical_harmonics_alpha_np(1, np.array(0.0)).tolist() == [0.0, 1.0, math.sqrt(2)]
    True
    """
    alpha = np.asarray(alpha, dtype=np.float64)[..., None]
    m = np.arange(1, l + 1)
    return np.concatenate(
        [math.sqrt(2) * np.sin(m[::-1] * alpha), np.ones_like(alpha), math.sqrt(2) * np.cos(m * alpha)], axis=-1
    )


@functools.lru_cache(maxsize=None)
def spherical_harmonics_s2_grid_np(lmax, res_beta, res_alpha):
    r"""``(betas, alphas, shb, sha)``: ``shb`` ``(res_beta, (lmax+1)^2)`` the Legendre part, ``sha``
    ``(res_alpha, 2 lmax + 1)`` the :math:`\alpha` part (e3nn's ``spherical_harmonics_s2_grid``).

    >>> [a.shape for a in spherical_harmonics_s2_grid_np(2, 6, 5)]
    [(6,), (5,), (6, 9), (5, 5)]
    """
    betas, alphas = s2_grid_np(res_beta, res_alpha)
    shb = legendre_np(list(range(lmax + 1)), np.cos(betas), np.abs(np.sin(betas)))
    sha = spherical_harmonics_alpha_np(lmax, alphas)
    return betas, alphas, _frozen(shb), _frozen(sha)


def complete_lmax_res(lmax, res_beta, res_alpha):
    """Fill in the missing ones of ``lmax``, ``res_beta``, ``res_alpha`` as e3nn does (FFT-friendly defaults).

    >>> complete_lmax_res(4, None, None)
    (4, 10, 9)
    """
    if lmax is not None and (isinstance(lmax, bool) or not isinstance(lmax, (int, np.integer)) or lmax < 0):
        raise ValueError(f"lmax must be a non-negative integer, got {lmax!r}")
    if res_beta is None:
        if lmax is not None:
            res_beta = 2 * (lmax + 1)
        elif res_alpha is not None:
            res_beta = 2 * ((res_alpha + 1) // 2)
        else:
            raise ValueError("lmax and res are both None: give at least one of them")
    if res_alpha is None:
        if lmax is not None:
            res_alpha = max(2 * lmax + 1, res_beta - 1)
        else:
            res_alpha = res_beta - 1
    res_beta, res_alpha = _check_res(res_beta, "res_beta"), _check_res(res_alpha, "res_alpha")
    if lmax is None:
        lmax = min(res_beta // 2 - 1, (res_alpha - 1) // 2)
    if res_beta % 2 != 0:
        raise ValueError(f"res_beta must be even, got {res_beta}")
    if lmax + 1 > res_beta // 2:
        raise ValueError(f"res_beta={res_beta} is too small for lmax={lmax}: need res_beta >= {2 * (lmax + 1)}")
    return int(lmax), res_beta, res_alpha


def _split_res(lmax, res):
    if res is None or isinstance(res, (int, np.integer)):
        return complete_lmax_res(lmax, res, None)
    try:
        res_beta, res_alpha = res
    except (TypeError, ValueError):
        raise ValueError(f"res must be an int or a pair (res_beta, res_alpha), got {res!r}") from None
    return complete_lmax_res(lmax, res_beta, res_alpha)


def expand_matrix(ls):
    """``(len(ls), 2 lmax + 1, sum(2l+1))`` matrix that places each flat ``(l, m)`` at row ``l``, column ``m``.

    >>> expand_matrix([0, 1]).shape
    (2, 3, 4)
    """
    lmax = max(ls)
    out = np.zeros((len(ls), 2 * lmax + 1, sum(2 * l + 1 for l in ls)))
    i = 0
    for j, l in enumerate(ls):
        out[j, lmax - l:lmax + l + 1, i:i + 2 * l + 1] = np.eye(2 * l + 1)
        i += 2 * l + 1
    return out


def _normalization_vector(normalization, lmax, to_grid, lmax_in=None):
    if isinstance(normalization, str):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be 'norm', 'component' or 'integral', got {normalization!r}")
        ls = np.arange(lmax + 1)
        if to_grid:
            return {
                "component": math.sqrt(4 * math.pi) / np.sqrt(2 * ls + 1) / math.sqrt(lmax + 1),
                "norm": math.sqrt(4 * math.pi) * np.ones(lmax + 1) / math.sqrt(lmax + 1),
                "integral": np.ones(lmax + 1),
            }[normalization]
        return {
            "component": math.sqrt(4 * math.pi) * np.sqrt(2 * ls + 1) * math.sqrt(lmax_in + 1),
            "norm": math.sqrt(4 * math.pi) * np.ones(lmax + 1) * math.sqrt(lmax_in + 1),
            "integral": 4 * math.pi * np.ones(lmax + 1),
        }[normalization]
    n = np.asarray(normalization.asnumpy() if hasattr(normalization, "asnumpy") else normalization, np.float64)
    if n.shape != (lmax + 1,):
        raise ValueError(f"a normalization array must have shape ({lmax + 1},) for lmax={lmax}, got {n.shape}")
    return n


def to_s2_grid_plan(lmax=None, res=None, normalization="component"):
    r"""``(lmax, res_beta, res_alpha, betas, alphas, sha, shb)`` of ``ToS2Grid``: ``shb`` is ``(m, beta, i)``
    (the Legendre part with the normalisation, as e3nn's buffer) and ``sha`` is ``(alpha, m)``.

    >>> p = to_s2_grid_plan(2, (6, 7)); p[:3], p[6].shape
    ((2, 6, 7), (5, 6, 9))
    """
    lmax, res_beta, res_alpha = _split_res(lmax, res)
    n = _normalization_vector(normalization, lmax, True)
    return _to_plan_cached(lmax, res_beta, res_alpha, tuple(float(v) for v in n))


@functools.lru_cache(maxsize=None)
def _to_plan_cached(lmax, res_beta, res_alpha, n):
    betas, alphas, shb, sha = spherical_harmonics_s2_grid_np(lmax, res_beta, res_alpha)
    m = expand_matrix(list(range(lmax + 1)))
    shb = np.einsum("lmj,bj,lmi,l->mbi", m, shb, m, np.asarray(n))
    return lmax, res_beta, res_alpha, betas, alphas, sha, _frozen(shb)


def from_s2_grid_plan(res=None, lmax=None, normalization="component", lmax_in=None):
    r"""``(lmax, res_beta, res_alpha, betas, alphas, sha, shb)`` of ``FromS2Grid``: ``shb`` ``(m, beta, i)``
    includes the quadrature weights.

    >>> p = from_s2_grid_plan((6, 7), 2); p[:3], p[6].shape
    ((2, 6, 7), (5, 6, 9))
    """
    lmax, res_beta, res_alpha = _split_res(lmax, res)
    if lmax_in is None:
        lmax_in = lmax
    n = _normalization_vector(normalization, lmax, False, lmax_in)
    return _from_plan_cached(lmax, res_beta, res_alpha, tuple(float(v) for v in n))


@functools.lru_cache(maxsize=None)
def _from_plan_cached(lmax, res_beta, res_alpha, n):
    betas, alphas, shb, sha = spherical_harmonics_s2_grid_np(lmax, res_beta, res_alpha)
    m = expand_matrix(list(range(lmax + 1)))
    qw = quadrature_weights(res_beta // 2) * res_beta ** 2 / res_alpha
    shb = np.einsum("lmj,bj,lmi,l,b->mbi", m, shb, m, np.asarray(n), qw)
    return lmax, res_beta, res_alpha, betas, alphas, sha, _frozen(shb)


def grid_xyz(betas, alphas):
    r"""Points :math:`(\sin\beta\sin\alpha, \cos\beta, \sin\beta\cos\alpha)`, shape ``(res_beta, res_alpha, 3)``.

    >>> grid_xyz(np.array([0.0]), np.array([0.0])).tolist()
    [[[0.0, 1.0, 0.0]]]
    """
    b, a = np.meshgrid(betas, alphas, indexing="ij")
    return np.stack([np.sin(b) * np.sin(a), np.cos(b), np.sin(b) * np.cos(a)], axis=-1)


@functools.lru_cache(maxsize=None)
def so3_grid_plan(lmax, resolution, aspect_ratio=2):
    r"""``(alphas, betas, D, qw)`` of e3nn's ``SO3Grid``: ``D`` ``(na, nb, na, sum (2l+1)^2)`` holds
    :math:`\sqrt{2l+1}\, D^l(\alpha, \beta, \gamma)` flattened, ``qw`` the :math:`\beta` weights
    (``nb = 2 resolution``, ``na = round(2 aspect_ratio resolution)``).

    >>> a, b, D, qw = so3_grid_plan(1, 2); D.shape, qw.shape
    ((8, 4, 8, 10), (4,))
    """
    if isinstance(lmax, bool) or not isinstance(lmax, (int, np.integer)) or lmax < 0:
        raise ValueError(f"lmax must be a non-negative integer, got {lmax!r}")
    resolution = _check_res(resolution, "resolution")
    nb = 2 * resolution
    na = round(2 * aspect_ratio * resolution)
    b, a = s2_grid_np(nb, na)
    alpha, beta, gamma = a[:, None, None], b[None, :, None], a[None, None, :]
    blocks = []
    for l in range(lmax + 1):
        d = wigner_D(l, alpha, beta, gamma)
        blocks.append((2 * l + 1) ** 0.5 * d.reshape(d.shape[:-2] + (-1,)))
    d = np.concatenate(blocks, axis=-1)
    qw = quadrature_weights(nb // 2) * nb ** 2 / na ** 2
    return a, b, _frozen(d), _frozen(qw)
