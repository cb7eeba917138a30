r"""The numbers of SO(3) in e3nn's real basis, in numpy float64 (no MindSpore): the plan layer of ``o3``.

Everything here depends only on integers ``l`` and is cached, so Cells can build their constants from it at
construction time:

* :func:`su2_generators` / :func:`so3_generators` -- Lie algebra generators (complex / e3nn's real basis),
* :func:`change_basis_real_to_complex` -- the unitary :math:`Q^l` with :math:`Y^\mathbb{C} = Q^l Y^\mathbb{R}`,
* :func:`su2_clebsch_gordan` -- Condon-Shortley Clebsch-Gordan coefficients (exact rational arithmetic),
* :func:`wigner_3j` -- the real, Frobenius-normalised coupling tensor :math:`C^{l_1 l_2 l_3}` of e3nn,
* :func:`wigner_D` -- :math:`D^l(\alpha, \beta, \gamma) = D_y(\alpha) D_x(\beta) D_y(\gamma)` (Y-X-Y Euler angles),
  built from :func:`y_rotation_plan` and :func:`x_to_y` so that no matrix exponential is needed.

In e3nn's real basis a rotation about the y axis (the polar axis) only mixes the components :math:`m` and
:math:`-m`: :math:`D_y(\alpha) = \mathrm{diag}(\cos |m|\alpha) + \sin(|m|\alpha)\, K` with the constant
:math:`K = X_y / |m|`. A rotation about x is conjugate to it: :math:`D_x(\beta) = J D_y(\beta) J^T`.

>>> C = wigner_3j(1, 1, 2)
>>> C.shape, round(float((C ** 2).sum()), 12)
((3, 3, 5), 1.0)
"""
import functools
from fractions import Fraction
from math import factorial

import numpy as np


def _check_l(l, name="l"):
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {l!r}")
    return int(l)


def check_spin(j):
    """``j`` as an int (integer spin) or a float (half-integer spin); ValueError unless ``2j`` is a non-negative
    integer.

    >>> check_spin(1), check_spin(1.5)
    (1, 1.5)
    """
    if isinstance(j, bool):
        raise ValueError(f"j must be a non-negative integer or half-integer, got {j!r}")
    try:
        twice = 2 * float(j)
    except (TypeError, ValueError):
        raise ValueError(f"j must be a non-negative integer or half-integer, got {j!r}") from None
    if twice < 0 or twice != round(twice):
        raise ValueError(f"j must be a non-negative integer or half-integer, got {j!r}")
    twice = int(round(twice))
    return twice // 2 if twice % 2 == 0 else twice / 2


@functools.lru_cache(maxsize=None)
def su2_generators(j):
    r"""Generators of SU(2) in the complex :math:`|j, m\rangle` basis, shape ``(3, 2j+1, 2j+1)`` complex128
    (``j`` integer or half-integer).

    Ordered as e3nn orders them, so that after the change of basis index 0 generates rotations about x,
    1 about y and 2 about z (:func:`so3_generators`).

    >>> su2_generators(1).shape, su2_generators(0.5).shape
    ((3, 3, 3), (3, 2, 2))
    """
    j = check_spin(j)
    m = np.arange(-j, j + 1, dtype=np.float64)
    # <m+1| J+ |m> = sqrt(j(j+1) - m(m+1)) sits below the diagonal in e3nn's sign convention (with a minus sign).
    up = np.sqrt(j * (j + 1) - m[:-1] * (m[:-1] + 1))
    raising = np.diag(-up, k=-1)
    lowering = np.diag(up, k=1)
    gens = np.stack([0.5 * (raising + lowering), np.diag(1j * m), -0.5j * (raising - lowering)])
    gens.setflags(write=False)
    return gens


@functools.lru_cache(maxsize=None)
def change_basis_real_to_complex(l):
    r"""Unitary :math:`Q^l` (complex128, ``(2l+1, 2l+1)``) taking e3nn's real basis to the complex one.

    Rows are indexed by the complex :math:`m`, columns by the real index; the global phase :math:`(-i)^l` makes
    the real Clebsch-Gordan coefficients real.

    >>> Q = change_basis_real_to_complex(2)
    >>> bool(np.allclose(Q @ Q.conj().T, np.eye(5)))
    True
    """
    l = _check_l(l)
    q = np.zeros((2 * l + 1, 2 * l + 1), dtype=np.complex128)
    s = 2 ** -0.5
    q[l, l] = 1.0
    for m in range(1, l + 1):
        # negative m: (|m| cos-like, -i sin-like); positive m: (-1)^m times (cos-like, +i sin-like)
        q[l - m, l + m] = s
        q[l - m, l - m] = -1j * s
        q[l + m, l + m] = (-1) ** m * s
        q[l + m, l - m] = 1j * (-1) ** m * s
    q = (-1j) ** l * q
    q.setflags(write=False)
    return q


@functools.lru_cache(maxsize=None)
def so3_generators(l):
    r"""Generators of SO(3) in e3nn's real basis, shape ``(3, 2l+1, 2l+1)`` float64: about x, y and z.

    >>> X = so3_generators(1)
    >>> bool(np.allclose(X[0] @ X[1] - X[1] @ X[0], X[2]))
    True
    """
    l = _check_l(l)
    q = change_basis_real_to_complex(l)
    x = q.conj().T @ su2_generators(l) @ q
    assert np.abs(x.imag).max() < 1e-10
    x = np.ascontiguousarray(x.real)
    x.setflags(write=False)
    return x


def _cg_coefficient(j1, m1, j2, m2, j3, m3):
    """<j1 m1 j2 m2 | j3 m3> for integer angular momenta (Racah's closed form, exact up to one sqrt)."""
    if m1 + m2 != m3 or abs(m1) > j1 or abs(m2) > j2 or abs(m3) > j3:
        return 0.0
    f = factorial
    # squared prefactor as an exact fraction, then a single square root
    pre = Fraction(
        (2 * j3 + 1) * f(j3 + j1 - j2) * f(j3 - j1 + j2) * f(j1 + j2 - j3),
        f(j1 + j2 + j3 + 1),
    ) * (f(j3 + m3) * f(j3 - m3) * f(j1 - m1) * f(j1 + m1) * f(j2 - m2) * f(j2 + m2))
    total = Fraction(0)
    for k in range(0, j1 + j2 - j3 + 1):
        terms = (j1 + j2 - j3 - k, j1 - m1 - k, j2 + m2 - k, j3 - j2 + m1 + k, j3 - j1 - m2 + k)
        if min(terms) < 0:
            continue
        denom = f(k)
        for t in terms:
            denom *= f(t)
        total += Fraction((-1) ** k, denom)
    # sign(total) * sqrt(pre * total^2): one rounding at the very end (Fraction -> float is exact-rounded)
    if total == 0:
        return 0.0
    return (1.0 if total > 0 else -1.0) * float(total * total * pre) ** 0.5


@functools.lru_cache(maxsize=None)
def su2_clebsch_gordan(j1, j2, j3):
    r"""Clebsch-Gordan coefficients :math:`\langle j_1 m_1 j_2 m_2 | j_3 m_3 \rangle`, shape
    ``(2j1+1, 2j2+1, 2j3+1)`` float64, Condon-Shortley phase, integer :math:`j` only.

    >>> float(su2_clebsch_gordan(1, 1, 0)[0, 2, 0]) == 3 ** -0.5
    True
    """
    j1, j2, j3 = _check_l(j1, "j1"), _check_l(j2, "j2"), _check_l(j3, "j3")
    mat = np.zeros((2 * j1 + 1, 2 * j2 + 1, 2 * j3 + 1))
    if abs(j1 - j2) <= j3 <= j1 + j2:
        for m1 in range(-j1, j1 + 1):
            for m2 in range(-j2, j2 + 1):
                if abs(m1 + m2) <= j3:
                    mat[j1 + m1, j2 + m2, j3 + m1 + m2] = _cg_coefficient(j1, m1, j2, m2, j3, m1 + m2)
    mat.setflags(write=False)
    return mat


def check_triangle(l1, l2, l3):
    """Raise a ValueError unless (l1, l2, l3) are non-negative integers with |l1 - l2| <= l3 <= l1 + l2."""
    l1, l2, l3 = _check_l(l1, "l1"), _check_l(l2, "l2"), _check_l(l3, "l3")
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(
            f"invalid Wigner 3j triple ({l1}, {l2}, {l3}): the selection rule |l1 - l2| <= l3 <= l1 + l2 fails"
        )
    return l1, l2, l3


@functools.lru_cache(maxsize=None)
def wigner_3j(l1, l2, l3):
    r"""e3nn's real Wigner 3j tensor :math:`C^{l_1 l_2 l_3}`, shape ``(2l1+1, 2l2+1, 2l3+1)``, float64.

    Invariant: :math:`C_{ijk} = C_{abc} D^{l_1}_{ai} D^{l_2}_{bj} D^{l_3}_{ck}` for every rotation, and
    :math:`\sum C_{ijk}^2 = 1`. Read-only (cached); copy it before modifying.

    >>> wigner_3j(0, 1, 1)[0] * 3 ** 0.5
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """
    l1, l2, l3 = check_triangle(l1, l2, l3)
    q1, q2, q3 = (change_basis_real_to_complex(l) for l in (l1, l2, l3))
    cg = su2_clebsch_gordan(l1, l2, l3).astype(np.complex128)
    # real-basis coefficients: C_real[a, b, c] = sum_{i,k,n} Q1[i, a] Q2[k, b] conj(Q3[n, c]) CG[i, k, n]
    c = np.tensordot(q1, cg, axes=([0], [0]))  # (a, k, n)
    c = np.tensordot(q2, c, axes=([0], [1]))  # (b, a, n)
    c = np.tensordot(q3.conj(), c, axes=([0], [2]))  # (c, b, a)
    c = np.transpose(c, (2, 1, 0))
    assert np.abs(c.imag).max() < 1e-10, "the real-basis 3j symbol should be real"
    c = np.ascontiguousarray(c.real)
    c /= np.linalg.norm(c)
    c[np.abs(c) < 1e-15] = 0.0
    c.setflags(write=False)
    return c


@functools.lru_cache(maxsize=None)
def y_rotation_plan(l):
    r"""``(m_abs, K)``: :math:`D_y(\alpha) = \mathrm{diag}(\cos(m_{abs}\alpha)) + \sin(m_{abs}\alpha)[:, None] K`.

    ``m_abs`` is :math:`|m|` per component (float64, ``(2l+1,)``), ``K`` the y generator divided by :math:`|m|`.

    >>> m_abs, K = y_rotation_plan(1)
    >>> m_abs
    array([1., 0., 1.])
    """
    l = _check_l(l)
    m_abs = np.abs(np.arange(-l, l + 1)).astype(np.float64)
    x_y = so3_generators(l)[1]
    k = x_y / np.where(m_abs > 0, m_abs, 1.0)[:, None]
    m_abs.setflags(write=False)
    k.setflags(write=False)
    return m_abs, k


def _expm_skew(a):
    """exp of a real antisymmetric matrix (via the eigen-decomposition of the Hermitian matrix i*a)."""
    w, v = np.linalg.eigh(1j * a)
    return (v @ np.diag(np.exp(-1j * w)) @ v.conj().T).real


@functools.lru_cache(maxsize=None)
def x_to_y(l):
    r"""Orthogonal :math:`J^l` with :math:`D_x(\beta) = J D_y(\beta) J^T` (the representation of a rotation
    that takes the y axis to the x axis), float64 ``(2l+1, 2l+1)``.

    >>> J = x_to_y(1); bool(np.allclose(J @ J.T, np.eye(3)))
    True
    """
    l = _check_l(l)
    x = so3_generators(l)
    # a quarter turn about z maps y onto -x or x depending on the sign; pick the one that conjugates X_y to X_x
    for sign in (1.0, -1.0):
        j = _expm_skew(sign * np.pi / 2 * x[2])
        if np.allclose(j @ x[1] @ j.T, x[0], atol=1e-10):
            j.setflags(write=False)
            return j
    raise AssertionError("no quarter turn about z maps the y generator onto the x generator")  # pragma: no cover


def _rot_y(l, angle):
    m_abs, k = y_rotation_plan(l)
    angle = np.asarray(angle, dtype=np.float64)[..., None]
    cos = np.cos(angle * m_abs)
    sin = np.sin(angle * m_abs)
    eye = np.eye(2 * l + 1)
    return eye * cos[..., None, :] + sin[..., :, None] * k


def wigner_D(l, alpha, beta, gamma):
    r"""Wigner D matrix :math:`D^l(\alpha, \beta, \gamma) = D_y(\alpha) D_x(\beta) D_y(\gamma)` in numpy float64.

    Angles broadcast; the result has shape ``(..., 2l+1, 2l+1)``.

    >>> bool(np.allclose(wigner_D(2, 0.0, 0.0, 0.0), np.eye(5)))
    True
    """
    l = _check_l(l)
    alpha, beta, gamma = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (alpha, beta, gamma)))
    j = x_to_y(l)
    return _rot_y(l, alpha) @ j @ _rot_y(l, beta) @ j.T @ _rot_y(l, gamma)
