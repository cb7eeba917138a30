r"""Signals on SO(3): e3nn's ``SO3Grid``, the map between Wigner coefficients and values on an Euler-angle grid.

Features :math:`F = \{F^l\}` of irreps ``[(2l+1) x l for l <= lmax]`` (flattened :math:`(2l+1)^2` per ``l``)
stand for :math:`f(\alpha, \beta, \gamma) = \sum_l \sqrt{2l+1}\, F^l \cdot D^l(\alpha, \beta, \gamma) / \sqrt{d}`,
:math:`d = \sum_l (2l+1)^2`, on the grid :math:`\alpha, \gamma \in 2\pi j / n_a`, :math:`\beta \in \pi(i + 1/2)/n_b`.
``to_grid`` and ``from_grid`` are one matrix product each with tables built once in numpy float64.
"""
import mindspore as ms
from mindspore import nn, ops

from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard
from ._s2grid_np import so3_grid_plan


class SO3Grid(SecondOrderGuard, nn.Cell):
    r"""Wigner coefficients <-> values on a grid of SO(3) (e3nn's ``SO3Grid``).

    Args:
        lmax (int): the irreps are ``[(2l+1) x l for l in 0..lmax]``.
        resolution (int): ``res_beta = 2 * resolution``, ``res_alpha = res_gamma = round(2 * aspect_ratio *
            resolution)``.
        normalization (str): only ``'component'`` (as e3nn).
        aspect_ratio (float): default 2.
        dtype (mindspore.dtype): dtype of the tables (keyword). Default: the default dtype (``get_default_dtype()``).

    Attributes:
        D (Tensor): ``(res_alpha, res_beta, res_gamma, dim)``; qw (Tensor): ``(res_beta,)``; alpha, beta, gamma.

    Inputs:
        - **features** (Tensor) - ``(..., dim)`` with ``dim = sum (2l+1)^2`` (``construct`` is ``to_grid``).

    Outputs:
        Tensor of shape ``(..., res_alpha, res_beta, res_gamma)``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> g = SO3Grid(1, 2)
        >>> g.to_grid(ms.ops.ones((3, 10), ms.float32)).shape
        (3, 8, 4, 8)
        >>> g.from_grid(g.to_grid(ms.ops.ones((3, 10), ms.float32))).shape
        (3, 10)
    """

    def __init__(self, lmax, resolution, *, normalization="component", aspect_ratio=2, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        if normalization != "component":
            raise ValueError(f"SO3Grid only supports normalization='component', got {normalization!r}")
        alphas, betas, d, qw = so3_grid_plan(lmax, resolution, aspect_ratio)
        self.lmax = lmax
        self.res_alpha, self.res_beta, self.res_gamma = len(alphas), len(betas), len(alphas)
        self.dim = d.shape[-1]
        self.D = constant(d, dtype)
        self.qw = constant(qw, dtype)
        self.alpha = constant(alphas, dtype)
        self.beta = constant(betas, dtype)
        self.gamma = constant(alphas, dtype)
        flat = d.reshape(-1, self.dim)
        self._to = constant(flat.T / self.dim ** 0.5, dtype)  # (dim, abc)
        self._from = constant((d * qw[None, :, None, None]).reshape(-1, self.dim) * self.dim ** 0.5, dtype)
        self._grid_shape = (self.res_alpha, self.res_beta, self.res_gamma)

    def __repr__(self):
        return f"{self.__class__.__name__} ({self.lmax})"

    def to_grid(self, features):
        r"""``(..., dim)`` -> values ``(..., res_alpha, res_beta, res_gamma)``."""
        if features.shape[-1] != self.dim:
            raise ValueError(f"SO3Grid(lmax={self.lmax}) expects features of shape (..., {self.dim}), "
                             f"got {features.shape}")
        out = ops.matmul(features.reshape(-1, self.dim), self._to)
        return out.reshape(features.shape[:-1] + self._grid_shape)

    def from_grid(self, features):
        r"""values ``(..., res_alpha, res_beta, res_gamma)`` -> ``(..., dim)`` (quadrature)."""
        if features.ndim < 3 or tuple(features.shape[-3:]) != self._grid_shape:
            raise ValueError(f"SO3Grid(lmax={self.lmax}) expects values of shape (..., {self.res_alpha}, "
                             f"{self.res_beta}, {self.res_gamma}), got {features.shape}")
        size = features.shape[:-3]
        out = ops.matmul(features.reshape(-1, self.res_alpha * self.res_beta * self.res_gamma), self._from)
        return out.reshape(size + (self.dim,))

    def construct(self, features):
        return self.to_grid(features)
