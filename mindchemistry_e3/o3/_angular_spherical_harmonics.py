r"""Spherical harmonics as functions of the Euler angles (e3nn's ``_angular_spherical_harmonics``).

For :math:`\vec r = R_y(\alpha) R_x(\beta)\, \hat e_y` (e3nn's convention, y the polar axis),

.. math::

    Y^l_m(\alpha, \beta) = S_m(\alpha)\, P^l_{|m|}(\cos\beta, \sin\beta), \qquad
    S_m(\alpha) = \begin{cases} \sqrt 2 \sin(|m| \alpha) & m < 0 \\ 1 & m = 0 \\ \sqrt 2 \cos(m \alpha) & m > 0
    \end{cases}

with e3nn's Legendre polynomials :math:`P^l_m` (:class:`Legendre`; coefficients planned in numpy, see
:mod:`._angular_spherical_harmonics_np`). The Legendre part is one MatMul of the monomials :math:`z^a y^b` against
the coefficient table; the product with :math:`S` is one gather and one multiply. Everything runs in GRAPH_MODE;
the functions can be called inside ``construct`` (their constants are rebuilt from cached numpy plans).

>>> import numpy as np, mindspore as ms
>>> y = spherical_harmonics_alpha_beta([0, 1], ms.Tensor([0.3]), ms.Tensor([1.1]), normalization="component")
>>> y.shape
(1, 4)
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard
from ._angular_spherical_harmonics_np import alpha_beta_plan, as_degrees, legendre_plan

__all__ = ["SphericalHarmonicsAlphaBeta", "spherical_harmonics_alpha_beta", "spherical_harmonics_alpha", "Legendre"]

_SQRT2 = np.array([2.0 ** 0.5])


def _legendre(z, y, monomials, coefficients):
    """``[..., n] @ C`` with the monomials ``z^a y^b`` of ``monomials`` as columns."""
    lead = z.shape
    z, y = z.reshape(-1, 1), y.reshape(-1, 1)
    z_pow, y_pow = [ops.ones_like(z)], [ops.ones_like(y)]
    for _ in range(max(a for a, _ in monomials)):
        z_pow.append(z_pow[-1] * z)
    for _ in range(max(b for _, b in monomials)):
        y_pow.append(y_pow[-1] * y)
    columns = [z_pow[a] * y_pow[b] for a, b in monomials]
    x = ops.concat(columns, 1) if len(columns) > 1 else columns[0]
    return ops.matmul(x, coefficients).reshape(lead + (coefficients.shape[1],))


def spherical_harmonics_alpha(l, alpha):
    r""":math:`S_m(\alpha)` for :math:`m = -l .. l` (the :math:`\alpha` part of :func:`spherical_harmonics_alpha_beta`).

    Args:
        l (int): degree.
        alpha (Tensor): shape ``(...)``.

    Returns:
        Tensor of shape ``(..., 2l+1)``.

    Examples:
        >>> import mindspore as ms
        >>> spherical_harmonics_alpha(1, ms.Tensor([0.0], ms.float64)).asnumpy().round(6).tolist()
        [[0.0, 1.0, 1.414214]]
    """
    alpha = ops.expand_dims(alpha, -1)
    sqrt2 = ms.Tensor(_SQRT2).astype(alpha.dtype)
    ones = ops.ones_like(alpha)
    if l == 0:
        return ones
    m = ms.Tensor(np.arange(1, l + 1, dtype=np.float64)).astype(alpha.dtype)
    m_down = ms.Tensor(np.arange(l, 0, -1, dtype=np.float64)).astype(alpha.dtype)
    return ops.concat([sqrt2 * ops.sin(m_down * alpha), ones, sqrt2 * ops.cos(m * alpha)], -1)


def _alpha_beta(alpha, beta, ls, legendre, normalization):
    """The body of :class:`SphericalHarmonicsAlphaBeta`; ``legendre`` is ``(monomials, C Tensor)``."""
    columns, factor, how = alpha_beta_plan(ls, normalization)
    shape = alpha.shape
    sha = spherical_harmonics_alpha(max(ls), alpha.reshape(-1))  # [z, m]
    shy = _legendre(ops.cos(beta).reshape(-1), ops.sin(beta).reshape(-1), *legendre)  # [z, l * m]
    out = shy * ops.gather(sha, ms.Tensor(columns), 1)
    if how == "mul":
        out = out * ms.Tensor(factor).astype(out.dtype)
    elif how == "div":
        out = out / ms.Tensor(factor).astype(out.dtype)
    return out.reshape(shape + (out.shape[-1],))


def spherical_harmonics_alpha_beta(l, alpha, beta, *, normalization="integral"):
    r"""Spherical harmonics of :math:`\vec r = R_y(\alpha) R_x(\beta)\, \hat e_y`:
    :math:`Y^l(\alpha, \beta) = S^l(\alpha) P^l(\cos\beta)`.

    Args:
        l (int, list[int] or Irreps): degree(s).
        alpha (Tensor): shape ``(...)``.
        beta (Tensor): shape ``(...)`` (same as ``alpha``).
        normalization (str): ``'integral'`` (default), ``'component'`` or ``'norm'``, as
            :func:`~mindchemistry_e3.o3.spherical_harmonics`.

    Returns:
        Tensor of shape ``(..., sum(2l+1))``.

    Raises:
        ValueError: an unknown normalization or a negative degree.

    Examples:
        >>> import mindspore as ms
        >>> spherical_harmonics_alpha_beta(2, ms.Tensor([[0.1, 0.2]]), ms.Tensor([[1.0, 2.0]])).shape
        (1, 2, 5)
    """
    ls = as_degrees(l)
    monomials, coefficients = legendre_plan(ls)
    return _alpha_beta(alpha, beta, ls, (monomials, ms.Tensor(coefficients).astype(alpha.dtype)), normalization)


class Legendre(SecondOrderGuard, nn.Cell):
    r"""e3nn's associated Legendre polynomials :math:`P^l_{|m|}(z, y)` for each ``l`` of ``ls`` and
    :math:`m = -l .. l`, as polynomials in :math:`z = \cos\beta` and :math:`y = \sin\beta`.

    Args:
        ls (list[int]): degrees.
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **z** (Tensor) - :math:`\cos\beta`, shape ``(...)``.
        - **y** (Tensor) - :math:`\sin\beta`, same shape.

    Outputs:
        Tensor of shape ``(..., sum(2l+1))``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> leg = Legendre([0, 1], dtype=ms.float64)
        >>> leg(ms.Tensor([1.0], ms.float64), ms.Tensor([0.0], ms.float64)).asnumpy().round(4).tolist()
        [[0.2821, 0.0, 0.4886, 0.0]]
    """

    def __init__(self, ls, *, dtype=None):
        super().__init__()
        self.ls = as_degrees(list(ls))
        self._monomials, coefficients = legendre_plan(self.ls)
        self._coefficients = constant(coefficients, check_float_dtype(dtype))

    def construct(self, z, y):
        return _legendre(z, y, self._monomials, self._coefficients)


class SphericalHarmonicsAlphaBeta(SecondOrderGuard, nn.Cell):
    r"""Cell form of :func:`spherical_harmonics_alpha_beta` (constants built once).

    Args:
        l (int, list[int] or Irreps): degree(s); an Irreps contributes each ``l`` ``mul`` times.
        normalization (str): ``'integral'`` (default), ``'component'`` or ``'norm'``.
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **alpha** (Tensor) - shape ``(...)``.
        - **beta** (Tensor) - same shape.

    Outputs:
        Tensor of shape ``(..., sum(2l+1))``.

    Raises:
        ValueError: an unknown normalization or a negative degree.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> sh = SphericalHarmonicsAlphaBeta([0, 1, 2], normalization="component")
        >>> sh(ms.Tensor([0.5, 1.0]), ms.Tensor([0.2, 0.3])).shape
        (2, 9)
    """

    def __init__(self, l, normalization="integral", *, dtype=None):
        super().__init__()
        self._ls_list = as_degrees(l)
        self._lmax = max(self._ls_list)
        self.normalization = normalization
        alpha_beta_plan(self._ls_list, normalization)  # validates
        self.legendre = Legendre(self._ls_list, dtype=dtype)

    def construct(self, alpha, beta):
        return _alpha_beta(alpha, beta, self._ls_list, (self.legendre._monomials, self.legendre._coefficients),
                           self.normalization)
