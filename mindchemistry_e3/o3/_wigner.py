r"""Wigner D matrices and Wigner 3j symbols of SO(3) in e3nn's real basis (MindSpore front end).

**Wigner D.** With Y-X-Y Euler angles (see ``o3._rotation``),

.. math::

    D^l(\alpha, \beta, \gamma) = D^l_y(\alpha)\, D^l_x(\beta)\, D^l_y(\gamma),
    \qquad D^l_y(\theta) = \mathrm{diag}_m \cos(|m|\theta) + \mathrm{diag}_m \sin(|m|\theta)\, K^l,
    \qquad D^l_x(\theta) = J^l D^l_y(\theta) J^{l\top}.

In e3nn's real basis a rotation about the y axis only mixes the components :math:`m` and :math:`-m`, so
:math:`D_y` is a couple of elementwise ``sin``/``cos`` of :math:`|m|\theta` times constant numpy matrices
(:math:`K^l = X^l_y / |m|`, and :math:`J^l`, the representation of a quarter turn taking y to x). That gives the
same numbers as e3nn's ``matrix_exp`` form, with no matrix exponential: a few broadcasts and four matmuls, clean in
GRAPH_MODE and differentiable to any order. The constants come from ``o3._so3_np`` (numpy float64, cached) and
are cast to the dtype of the angles.

**Wigner 3j.** :func:`wigner_3j` returns e3nn's real, Frobenius-normalised coupling tensor as a constant Tensor.

**Generators.** :func:`su2_generators` and :func:`change_basis_real_to_complex` are complex: they return MindSpore
complex Tensors (``complex64`` for ``dtype=float32``, ``complex128`` for ``float64``), as e3nn returns complex
torch tensors. :func:`so3_generators` is real. The numpy float64/complex128 originals, which is what plan-time
code should use, are ``o3._so3_np.su2_generators`` etc.

>>> import mindspore as ms
>>> D = wigner_D(1, ms.Tensor(0.3), ms.Tensor(0.0), ms.Tensor(0.0))
>>> D.shape
(3, 3)
"""
import functools

import numpy as np
import mindspore as ms
from mindspore import ops

from . import _so3_np
from ..util.dtype import check_float_dtype, constant
from ._rotation import _broadcast

__all__ = ["wigner_D", "wigner_3j", "su2_generators", "so3_generators", "change_basis_real_to_complex"]


def _check_l(l, name="l"):
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {l!r}")
    return int(l)


@functools.lru_cache(maxsize=None)
def _wigner_plan(l):
    """numpy float64 constants of D^l: |m| (n,), K (n, n), J (n, n), J^T (n, n), identity (n, n)."""
    m_abs, k = _so3_np.y_rotation_plan(l)
    j = _so3_np.x_to_y(l)
    n = 2 * l + 1
    return (np.array(m_abs), np.array(k), np.array(j), np.ascontiguousarray(j.T), np.eye(n))


def _rot_y(angle, m_abs, k, eye):
    """D_y(angle) = diag(cos(|m| angle)) + diag(sin(|m| angle)) K, shape (..., n, n)."""
    x = ops.expand_dims(angle, -1) * m_abs
    return eye * ops.expand_dims(ops.cos(x), -2) + ops.expand_dims(ops.sin(x), -1) * k


def wigner_D(l, alpha, beta, gamma):
    r"""Wigner D matrix :math:`D^l(\alpha, \beta, \gamma)` of SO(3) in e3nn's real basis.

    :math:`D(\text{identity}) = 1`, :math:`D(R_1 R_2) = D(R_1) D(R_2)`, :math:`D(R^{-1}) = D(R)^\top`.
    Graph-mode clean and differentiable to any order with respect to the angles.

    Args:
        l (int): degree, ``l >= 0``.
        alpha (Tensor): shape ``(...)``, rotation about y, applied third.
        beta (Tensor): shape ``(...)``, rotation about x, applied second.
        gamma (Tensor): shape ``(...)``, rotation about y, applied first.

    Returns:
        Tensor of shape ``(..., 2l+1, 2l+1)`` (the broadcast shape of the angles), dtype of the angles.

    Raises:
        ValueError: if ``l`` is not a non-negative integer, an angle is not a Tensor, or the angles do not
            broadcast.

    Examples:
        >>> import mindspore as ms
        >>> from mindchemistry_e3 import o3
        >>> D = wigner_D(2, *o3.rand_angles(10, dtype=ms.float64, seed=0))
        >>> D.shape
        (10, 5, 5)
    """
    l = _check_l(l)
    for name, angle in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not isinstance(angle, ms.Tensor):
            raise ValueError(f"wigner_D: {name} must be a MindSpore Tensor, got {type(angle).__name__}")
    alpha, beta, gamma = _broadcast(alpha, beta, gamma)
    m_np, k_np, j_np, jt_np, eye_np = _wigner_plan(l)
    dtype = alpha.dtype
    m_abs = ms.Tensor(m_np).astype(dtype)
    k = ms.Tensor(k_np).astype(dtype)
    j = ms.Tensor(j_np).astype(dtype)
    jt = ms.Tensor(jt_np).astype(dtype)
    eye = ms.Tensor(eye_np).astype(dtype)
    d_x = ops.matmul(ops.matmul(j, _rot_y(beta, m_abs, k, eye)), jt)
    return ops.matmul(ops.matmul(_rot_y(alpha, m_abs, k, eye), d_x), _rot_y(gamma, m_abs, k, eye))


def wigner_3j(l1, l2, l3, dtype=None, device=None):
    r"""Wigner 3j symbols :math:`C^{l_1 l_2 l_3}` in e3nn's real basis, a constant Tensor.

    :math:`C_{lmn} = C_{ijk} D^{l_1}_{il}(g) D^{l_2}_{jm}(g) D^{l_3}_{kn}(g)` for every rotation :math:`g`, and
    :math:`\sum C_{ijk}^2 = 1`. Computed once in numpy float64 (exact rational Clebsch-Gordan coefficients) and cast.

    Args:
        l1, l2, l3 (int): degrees with :math:`|l_1 - l_2| \le l_3 \le l_1 + l_2`.
        dtype (mindspore.dtype): floating dtype of the result. Default: the default dtype (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored (Tensors go to the device of ``mindspore.set_device``).

    Returns:
        Tensor of shape ``(2l1+1, 2l2+1, 2l3+1)``.

    Raises:
        ValueError: if a degree is not a non-negative integer or the triangle condition fails.

    Examples:
        >>> import mindspore as ms
        >>> C = wigner_3j(1, 2, 3, dtype=ms.float64)
        >>> C.shape, round(float((C ** 2).sum()), 12)
        ((3, 5, 7), 1.0)
    """
    del device
    dtype = check_float_dtype(dtype)
    l1, l2, l3 = _check_l(l1, "l1"), _check_l(l2, "l2"), _check_l(l3, "l3")
    return constant(_so3_np.wigner_3j(l1, l2, l3), dtype)


_COMPLEX = {ms.float32: (np.complex64, ms.complex64), ms.float64: (np.complex128, ms.complex128)}


def _complex_constant(array, dtype):
    dtype = check_float_dtype(dtype)
    if dtype not in _COMPLEX:
        raise ValueError(f"dtype must be mindspore.float32 or mindspore.float64 (giving complex64 / complex128), "
                         f"got {dtype}")
    np_dtype, ms_dtype = _COMPLEX[dtype]
    return ms.Tensor(np.asarray(array).astype(np_dtype), ms_dtype)


def su2_generators(j, dtype=None):
    r"""Generators of SU(2) for spin ``j`` (integer or half-integer) in the complex :math:`|j, m\rangle` basis, as
    e3nn orders them (:math:`m = -j, \dots, j`).

    Args:
        j (int or float): spin, a non-negative multiple of 1/2 (``0.5``, ``1``, ``1.5``, ...).
        dtype (mindspore.dtype): ``float32`` gives a ``complex64`` Tensor, ``float64`` a ``complex128`` one.
            Default: the default dtype.

    Returns:
        Complex Tensor of shape ``(3, 2j+1, 2j+1)``.

    Raises:
        ValueError: if ``2j`` is not a non-negative integer.

    Examples:
        >>> import mindspore as ms
        >>> X = su2_generators(1, dtype=ms.float64)
        >>> X.shape, X.dtype == ms.complex128
        ((3, 3, 3), True)
        >>> su2_generators(0.5, dtype=ms.float64).shape
        (3, 2, 2)
    """
    return _complex_constant(_so3_np.su2_generators(_so3_np.check_spin(j)), dtype)


def change_basis_real_to_complex(l, dtype=None, device=None):
    r"""Unitary :math:`Q^l` from e3nn's real basis to the complex spherical-harmonic basis (rows: complex
    :math:`m`, columns: real index), including e3nn's global phase :math:`(-i)^l`.

    Args:
        l (int): degree, ``l >= 0``.
        dtype (mindspore.dtype): ``float32`` gives a ``complex64`` Tensor, ``float64`` a ``complex128`` one.
            Default: the default dtype.
        device: accepted for e3nn compatibility and ignored (Tensors go to the device of ``mindspore.set_device``).

    Returns:
        Complex Tensor of shape ``(2l+1, 2l+1)``.

    Examples:
        >>> import mindspore as ms
        >>> change_basis_real_to_complex(2, dtype=ms.float64).shape
        (5, 5)
    """
    del device
    l = _check_l(l)
    return _complex_constant(_so3_np.change_basis_real_to_complex(l), dtype)


def so3_generators(l, dtype=None):
    r"""Generators :math:`X^l_x, X^l_y, X^l_z` of SO(3) in e3nn's real basis, :math:`D_x(\theta) = \exp(\theta X_x)`.

    Args:
        l (int): degree, ``l >= 0``.
        dtype (mindspore.dtype): floating dtype of the result. Default: the default dtype (``get_default_dtype()``).

    Returns:
        Tensor of shape ``(3, 2l+1, 2l+1)``.

    Examples:
        >>> import mindspore as ms
        >>> so3_generators(1, dtype=ms.float64).shape
        (3, 3, 3)
    """
    dtype = check_float_dtype(dtype)
    l = _check_l(l)
    return constant(_so3_np.so3_generators(l), dtype)
