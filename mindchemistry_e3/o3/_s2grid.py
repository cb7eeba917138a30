r"""Signals on the sphere: the grid of e3nn 0.6.0 and the transforms between spherical tensors and grid values.

A spherical tensor :math:`F = \{F^l\}_{l \le l_{max}}` stands for :math:`f(x) = \sum_l F^l \cdot Y^l(x)`; on the
grid :math:`x_{ij}` (``res_beta`` x ``res_alpha``, see :func:`s2_grid`) its values are
:math:`f(\beta_i, \alpha_j) = \sum_{l,m} F^l_m P^l_{|m|}(\cos\beta_i) S_m(\alpha_j)`.

:class:`ToS2Grid` and :class:`FromS2Grid` are two matrix products each (the Legendre part, then the Fourier part in
:math:`\alpha`); e3nn's FFT in :math:`\alpha` is the same linear map as the matrix ``sha``, so it is applied as a
matrix product too. All tables are computed once in numpy float64 (:mod:`._s2grid_np`) and cast to ``dtype``.
"""
import functools

import mindspore as ms
from mindspore import nn, ops

from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard
from ._s2grid_np import (
    from_s2_grid_plan,
    grid_xyz,
    s2_grid_np,
    spherical_harmonics_alpha_np,
    spherical_harmonics_s2_grid_np,
    to_s2_grid_plan,
)


def s2_grid(res_beta, res_alpha, dtype=None, device=None):
    r"""The grid on the sphere: :math:`\beta_i = \pi (i + 1/2) / N` and :math:`\alpha_j = 2 \pi j / M`.

    Args:
        res_beta (int): :math:`N`.
        res_alpha (int): :math:`M`.
        dtype (mindspore.dtype): dtype of the outputs. Default: the default dtype (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored (Tensors go to the device of ``mindspore.set_device``).

    Returns:
        ``(betas, alphas)``: Tensors of shape ``(res_beta,)`` and ``(res_alpha,)``.

    Examples:
        >>> betas, alphas = s2_grid(4, 5)
        >>> betas.shape, alphas.shape
        ((4,), (5,))
    """
    del device
    dtype = check_float_dtype(dtype)
    betas, alphas = s2_grid_np(res_beta, res_alpha)
    return constant(betas, dtype), constant(alphas, dtype)


def spherical_harmonics_s2_grid(lmax, res_beta, res_alpha, dtype=None, device=None):
    r"""Spherical harmonics on the grid, split as :math:`Y^l_m(\beta, \alpha) = P^l_{|m|}(\cos\beta) S_m(\alpha)`.

    Args:
        lmax (int): :math:`l_{max}`.
        res_beta (int): :math:`N`.
        res_alpha (int): :math:`M`.
        dtype (mindspore.dtype): dtype of the outputs. Default: the default dtype (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored (Tensors go to the device of ``mindspore.set_device``).

    Returns:
        ``(betas, alphas, shb, sha)`` with ``shb`` of shape ``(res_beta, (lmax+1)^2)`` and ``sha`` of shape
        ``(res_alpha, 2 lmax + 1)``.

    Examples:
        >>> _, _, shb, sha = spherical_harmonics_s2_grid(2, 6, 5)
        >>> shb.shape, sha.shape
        ((6, 9), (5, 5))
    """
    del device
    dtype = check_float_dtype(dtype)
    return tuple(constant(a, dtype) for a in spherical_harmonics_s2_grid_np(lmax, res_beta, res_alpha))


@functools.lru_cache(maxsize=None)
def _fourier_matrix(l, res):
    """(res, 2l+1) float64: row j is S(alpha_j), alpha_j = 2 pi j / res."""
    _, alphas = s2_grid_np(1, res)
    return spherical_harmonics_alpha_np(l, alphas)


def rfft(x, l):
    r"""Real Fourier transform of samples on :math:`\alpha_j = 2\pi j/M`: ``x @ sha``, shape ``(..., 2l+1)``.

    Args:
        x (Tensor): shape ``(..., M)``.
        l (int): highest frequency kept.

    Returns:
        Tensor of shape ``(..., 2l+1)``: :math:`\sum_j x_j S_m(\alpha_j)`.

    Examples:
        >>> import mindspore as ms
        >>> (rfft(ms.ops.ones((2, 7), ms.float32), 2).asnumpy()[0].round(5) + 0.0).tolist()
        [0.0, 0.0, 7.0, 0.0, 0.0]
    """
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"l must be a non-negative integer, got {l!r}")
    res = x.shape[-1]
    f = constant(_fourier_matrix(l, res), x.dtype)
    return ops.matmul(x.reshape(-1, res), f).reshape(x.shape[:-1] + (2 * l + 1,))


def irfft(x, res):
    r"""Inverse of :func:`rfft`: the values :math:`\sum_m x_m S_m(\alpha_j)` on ``res`` (odd) angles.

    Args:
        x (Tensor): shape ``(..., 2l+1)``.
        res (int): number of samples, odd and at least ``2l+1``.

    Returns:
        Tensor of shape ``(..., res)``.

    Examples:
        >>> import mindspore as ms
        >>> irfft(ms.Tensor([[0.0, 1.0, 0.0]]), 5).asnumpy().tolist()
        [[1.0, 1.0, 1.0, 1.0, 1.0]]
    """
    sm = x.shape[-1]
    if isinstance(res, bool) or not isinstance(res, int) or res % 2 != 1 or res < sm or sm % 2 != 1:
        raise ValueError(f"irfft: res must be an odd integer >= {sm} (input shape {x.shape}), got {res!r}")
    f = constant(_fourier_matrix(sm // 2, res).T, x.dtype)
    return ops.matmul(x.reshape(-1, sm), f).reshape(x.shape[:-1] + (res,))


class ToS2Grid(SecondOrderGuard, nn.Cell):
    r"""Spherical tensor -> values on the grid of the sphere (inverse of :class:`FromS2Grid`).

    Args:
        lmax (int, optional): :math:`l_{max}` (inferred from ``res`` if None).
        res (int or tuple of int, optional): ``res_beta`` or ``(res_beta, res_alpha)``; defaults to the smallest
            grid that resolves ``lmax``.
        normalization (str or array): ``'component'`` (default), ``'norm'``, ``'integral'``, or one factor per
            ``l``.
        dtype (mindspore.dtype): dtype of the tables. Default: the default dtype (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored (Tensors go to the device of ``mindspore.set_device``).

    Attributes:
        lmax, res_beta, res_alpha (int): the resolved sizes.
        betas, alphas (Tensor): the grid angles; ``grid`` (Tensor) the points, ``(res_beta, res_alpha, 3)``.
        shb (Tensor): ``(2 lmax + 1, res_beta, (lmax+1)^2)``; sha (Tensor): ``(res_alpha, 2 lmax + 1)``.

    Inputs:
        - **x** (Tensor) - shape ``(..., (lmax+1)^2)``.

    Outputs:
        Tensor of shape ``(..., res_beta, res_alpha)``.

    Raises:
        ValueError: bad normalization, resolution too small for ``lmax``, odd ``res_beta``, wrong input size.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> m = ToS2Grid(6, (100, 101))
        >>> m(ms.ops.ones((3, 49), ms.float32)).shape
        (3, 100, 101)
    """

    def __init__(self, lmax=None, res=None, normalization="component", dtype=None, device=None):
        super().__init__()
        del device
        dtype = check_float_dtype(dtype)
        lmax, res_beta, res_alpha, betas, alphas, sha, shb = to_s2_grid_plan(lmax, res, normalization)
        self.lmax, self.res_beta, self.res_alpha = lmax, res_beta, res_alpha
        self.dim = (lmax + 1) ** 2
        self.betas = constant(betas, dtype)
        self.alphas = constant(alphas, dtype)
        self.sha = constant(sha, dtype)
        self.shb = constant(shb, dtype)
        self.grid = constant(grid_xyz(betas, alphas), dtype)
        # x (z, i) @ (i, beta * m) -> (z * beta, m) @ (m, alpha)
        self._legendre = constant(shb.transpose(2, 1, 0).reshape(self.dim, -1), dtype)
        self._fourier = constant(sha.T, dtype)

    def __repr__(self):
        return f"{self.__class__.__name__}(lmax={self.lmax} res={self.res_beta}x{self.res_alpha} (beta x alpha))"

    def construct(self, x):
        if x.shape[-1] != self.dim:
            raise ValueError(f"ToS2Grid(lmax={self.lmax}) expects inputs of shape (..., {self.dim}), got {x.shape}")
        size = x.shape[:-1]
        y = ops.matmul(x.reshape(-1, self.dim), self._legendre)  # (z, beta * m)
        y = ops.matmul(y.reshape(-1, 2 * self.lmax + 1), self._fourier)  # (z * beta, alpha)
        return y.reshape(size + (self.res_beta, self.res_alpha))


class FromS2Grid(SecondOrderGuard, nn.Cell):
    r"""Values on the grid of the sphere -> spherical tensor (quadrature; inverse of :class:`ToS2Grid`).

    Args:
        res (int or tuple of int, optional): ``res_beta`` or ``(res_beta, res_alpha)``.
        lmax (int, optional): :math:`l_{max}` of the output (inferred from ``res`` if None).
        normalization (str or array): ``'component'`` (default), ``'norm'``, ``'integral'``, or one factor per
            ``l``.
        lmax_in (int, optional): :math:`l_{max}` of the signal (for the normalisation); default ``lmax``.
        dtype (mindspore.dtype): dtype of the tables. Default: the default dtype (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored (Tensors go to the device of ``mindspore.set_device``).

    Attributes:
        lmax, res_beta, res_alpha (int); betas, alphas, grid, shb, sha (Tensor), as in :class:`ToS2Grid`
        (``shb`` includes the quadrature weights).

    Inputs:
        - **x** (Tensor) - shape ``(..., res_beta, res_alpha)``.

    Outputs:
        Tensor of shape ``(..., (lmax+1)^2)``.

    Raises:
        ValueError: bad normalization or resolution, wrong input shape.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> m = FromS2Grid((100, 101), 6)
        >>> m(ms.ops.ones((3, 100, 101), ms.float32)).shape
        (3, 49)
    """

    def __init__(self, res=None, lmax=None, normalization="component", lmax_in=None, dtype=None, device=None):
        super().__init__()
        del device
        dtype = check_float_dtype(dtype)
        lmax, res_beta, res_alpha, betas, alphas, sha, shb = from_s2_grid_plan(res, lmax, normalization, lmax_in)
        self.lmax, self.res_beta, self.res_alpha = lmax, res_beta, res_alpha
        self.dim = (lmax + 1) ** 2
        self.betas = constant(betas, dtype)
        self.alphas = constant(alphas, dtype)
        self.sha = constant(sha, dtype)
        self.shb = constant(shb, dtype)
        self.grid = constant(grid_xyz(betas, alphas), dtype)
        # x (z * beta, alpha) @ (alpha, m) -> (z, beta * m) @ (beta * m, i)
        self._fourier = constant(sha, dtype)
        self._legendre = constant(shb.transpose(1, 0, 2).reshape(-1, self.dim), dtype)

    def __repr__(self):
        return f"{self.__class__.__name__}(lmax={self.lmax} res={self.res_beta}x{self.res_alpha} (beta x alpha))"

    def construct(self, x):
        if x.ndim < 2 or x.shape[-2] != self.res_beta or x.shape[-1] != self.res_alpha:
            raise ValueError(
                f"FromS2Grid(lmax={self.lmax}) expects inputs of shape (..., {self.res_beta}, {self.res_alpha}), "
                f"got {x.shape}"
            )
        size = x.shape[:-2]
        y = ops.matmul(x.reshape(-1, self.res_alpha), self._fourier)  # (z * beta, m)
        y = ops.matmul(y.reshape(-1, self.res_beta * (2 * self.lmax + 1)), self._legendre)  # (z, i)
        return y.reshape(size + (self.dim,))
