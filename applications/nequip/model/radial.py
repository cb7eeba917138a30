r"""Radial embedding of edge lengths: Bessel basis with trainable frequencies times a polynomial cutoff.

NequIP (Batzner et al. 2022, eq. 6-7) embeds the length :math:`r` of every edge as

.. math::  B_n(r) = \frac{2}{r_c}\,\frac{\sin(w_n r / r_c)}{r}\; f_p(r / r_c), \qquad w_n = n\pi\ (n = 1..N),

with the frequencies :math:`w_n` trainable, and the polynomial envelope (Klicpera et al. 2020) with :math:`p = 6`

.. math::  f_p(x) = 1 - \tfrac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \tfrac{p(p+1)}{2} x^{p+2}, \quad x < 1,

and :math:`f_p(x) = 0` for :math:`x \ge 1`: it and its first two derivatives vanish at the cutoff.

Padded edges (zero vectors, ``edge_mask = 0``) must give exactly zero and finite first and second derivatives, so
``r`` is replaced by 1 where ``r = 0`` before the division (the "double where" of the MindSpore notes, written as
``r + m`` with a constant 0/1 mask ``m``: the same values, and multiplies rather than ``Select`` kernels in the
derivatives) and the result is multiplied by the mask. Every constant is a Tensor of the Cell's ``dtype`` (a bare
Python float times a float64 Tensor is rounded to float32 by MindSpore 2.10).
"""
import math

import numpy as np
import mindspore as ms
from mindspore import nn, ops, Parameter

from mindchemistry_e3.util._cell import kernel_takes
from mindchemistry_e3.util.dtype import constant, check_float_dtype
from .radial_cpu import fused_radial

__all__ = ["BesselBasis", "PolynomialCutoff", "RadialEmbedding", "zero_length_mask", "polynomial_cutoff_np",
           "bessel_basis_np"]


def polynomial_cutoff_np(r, r_max, p=6):
    """Reference numpy (float64) polynomial envelope :math:`f_p(r / r_{max})` (zero beyond ``r_max``).

    >>> float(polynomial_cutoff_np(0.0, 4.0)), float(polynomial_cutoff_np(4.0, 4.0))
    (1.0, 0.0)
    """
    x = np.asarray(r, dtype=np.float64) / r_max
    p = float(p)
    f = 1.0 - (p + 1) * (p + 2) / 2 * x ** p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
    return np.where(x < 1.0, f, 0.0)


def bessel_basis_np(r, r_max, num_basis=8, freqs=None):
    """Reference numpy (float64) Bessel basis ``[..., num_basis]`` (no cutoff); ``freqs`` default ``n * pi``.

    >>> bessel_basis_np([1.0], 4.0, 3).shape
    (1, 3)
    """
    r = np.asarray(r, dtype=np.float64)[..., None]
    w = np.arange(1, num_basis + 1) * math.pi if freqs is None else np.asarray(freqs, np.float64)
    return 2.0 / r_max * np.sin(w * r / r_max) / r


def zero_length_mask(t):
    """1 where ``t <= 0`` (a squared length or a length: zero-length, padded edges), else 0, in ``t``'s dtype and
    outside the differentiation: ``t + mask`` is a safe divisor and ``* (1 - mask)`` zeroes, with the values of
    the "double where" and multiplies instead of ``Select`` kernels in every derivative order.

    >>> import mindspore as ms
    >>> zero_length_mask(ms.Tensor([0.0, 2.0])).asnumpy().tolist()
    [1.0, 0.0]
    """
    return ops.stop_gradient((t <= 0).astype(t.dtype))


def _check_r_max(r_max, who):
    try:
        r_max = float(r_max)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: r_max must be a number, got {r_max!r}") from None
    if not np.isfinite(r_max) or r_max <= 0:
        raise ValueError(f"{who}: r_max must be a positive finite number, got {r_max}")
    return r_max


class PolynomialCutoff(nn.Cell):
    r"""Smooth polynomial envelope :math:`f_p(r / r_{max})`, exactly zero for :math:`r \ge r_{max}`.

    Args:
        r_max (float): cutoff radius (Å).
        p (int): polynomial order, default 6 (NequIP's choice).
        dtype (mindspore.dtype): float dtype of the constants. Default ``mindspore.float32``.

    Inputs:
        - **r** (Tensor) - edge lengths, any shape.

    Outputs:
        Tensor of the same shape.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> f = PolynomialCutoff(4.0)
        >>> f(ms.Tensor([0.0, 2.0, 5.0])).asnumpy().astype(float).round(4).tolist()
        [1.0, 0.8555, 0.0]
    """

    def __init__(self, r_max, p=6, *, dtype=ms.float32):
        super().__init__()
        self.r_max = _check_r_max(r_max, "PolynomialCutoff")
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
            raise ValueError(f"PolynomialCutoff: p must be a positive integer, got {p!r}")
        self.p = int(p)
        self.dtype = check_float_dtype(dtype)
        pf = float(p)
        self.inv_r_max = constant(1.0 / self.r_max, dtype)
        self.c0 = constant((pf + 1) * (pf + 2) / 2, dtype)
        self.c1 = constant(pf * (pf + 2), dtype)
        self.c2 = constant(pf * (pf + 1) / 2, dtype)
        self.one = constant(1.0, dtype)

    def construct(self, r):
        x = r * self.inv_r_max
        xp = x
        for _ in range(self.p - 1):
            xp = xp * x
        f = self.one - self.c0 * xp + self.c1 * xp * x - self.c2 * xp * x * x
        return ops.where(x < self.one, f, ops.zeros_like(f))


class BesselBasis(nn.Cell):
    r"""Bessel radial basis :math:`\frac{2}{r_{max}} \sin(w_n r / r_{max}) / r` with (optionally trainable)
    frequencies :math:`w_n` initialised to :math:`n\pi`.

    Args:
        r_max (float): cutoff radius (Å).
        num_basis (int): number of basis functions :math:`N`, default 8.
        trainable (bool): train the frequencies, default True.
        dtype (mindspore.dtype): float dtype. Default ``mindspore.float32``.

    Inputs:
        - **r** (Tensor) - edge lengths ``[E, 1]``; must be > 0 (use :class:`RadialEmbedding` for padded edges).

    Outputs:
        Tensor ``[E, num_basis]``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> BesselBasis(4.0, 8)(ms.Tensor([[1.0], [2.0]])).shape
        (2, 8)
    """

    def __init__(self, r_max, num_basis=8, trainable=True, *, dtype=ms.float32):
        super().__init__()
        self.r_max = _check_r_max(r_max, "BesselBasis")
        if isinstance(num_basis, bool) or not isinstance(num_basis, (int, np.integer)) or num_basis < 1:
            raise ValueError(f"BesselBasis: num_basis must be a positive integer, got {num_basis!r}")
        self.num_basis = int(num_basis)
        self.dtype = check_float_dtype(dtype)
        freqs = np.arange(1, self.num_basis + 1, dtype=np.float64) * math.pi
        self.bessel_weights = Parameter(constant(freqs, dtype), name="bessel_weights", requires_grad=bool(trainable))
        self.inv_r_max = constant(1.0 / self.r_max, dtype)
        self.prefactor = constant(2.0 / self.r_max, dtype)

    def construct(self, r):
        arg = r * self.inv_r_max * self.bessel_weights
        return self.prefactor * ops.sin(arg) / r


class RadialEmbedding(nn.Cell):
    r"""Edge-length embedding of NequIP: ``BesselBasis(r) * PolynomialCutoff(r) * edge_mask``.

    Zero-length (padded) edges give exactly zero, with finite gradients of every order. Computed fused: the
    envelope in Horner form (:math:`x^p` by squaring) with the Bessel prefactor :math:`2 / r_c` and the division by
    ``r`` folded into it on ``[E, 1]``, then one ``sin`` of ``r w_n / r_c`` on ``[E, num_basis]`` times it
    (the two sub-Cells ``basis`` and ``cutoff`` hold the parameters and constants). On CPU the same numbers and
    their first two derivatives come from fused kernels (``native``, :mod:`.radial_cpu`).

    Args:
        r_max (float): cutoff radius (Å).
        num_basis (int): number of Bessel functions, default 8.
        trainable (bool): trainable Bessel frequencies, default True.
        p (int): cutoff polynomial order, default 6.
        dtype (mindspore.dtype): float dtype. Default ``mindspore.float32``.

    Inputs:
        - **r** (Tensor) - edge lengths ``[E, 1]`` (0 on padded edges).
        - **edge_mask** (Tensor) - ``[E, 1]``, 1 for real edges and 0 for padding.

    Outputs:
        Tensor ``[E, num_basis]``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> emb = RadialEmbedding(4.0, 8)
        >>> out = emb(ms.Tensor([[1.0], [0.0]]), ms.Tensor([[1.0], [0.0]]))
        >>> out.shape, float(abs(out[1]).sum())
        ((2, 8), 0.0)
    """

    def __init__(self, r_max, num_basis=8, trainable=True, p=6, *, dtype=ms.float32):
        super().__init__()
        self.basis = BesselBasis(r_max, num_basis, trainable, dtype=dtype)
        self.cutoff = PolynomialCutoff(r_max, p, dtype=dtype)
        self.num_basis = self.basis.num_basis
        # envelope * 2/r_max = q + x^p (a + x (b + c x)): the cutoff's coefficients times the Bessel prefactor
        pf, pp = 2.0 / self.basis.r_max, float(self.cutoff.p)
        self._coef = tuple(constant(v, dtype) for v in (pf, -pf * (pp + 1) * (pp + 2) / 2, pf * pp * (pp + 2),
                                                          -pf * pp * (pp + 1) / 2))
        self._powers = tuple(int(b) for b in bin(self.cutoff.p)[3:])  # x^p by squaring: 0 square, 1 square * x
        # the same embedding and its first two derivatives as three fused kernels on CPU (None: the plain ops)
        self.native = fused_radial(self.basis.r_max, self.cutoff.p, self.num_basis)

    def construct(self, r, edge_mask):
        if self.native is not None and kernel_takes(r):
            return self.native(r, self.basis.bessel_weights, edge_mask)
        x = r * self.cutoff.inv_r_max
        xp = x
        for bit in self._powers:
            xp = xp * xp
            if bit:
                xp = xp * x
        q, a, b, c = self._coef
        poly = q + xp * (a + x * (b + c * x))
        # 0/1 masks outside the differentiation instead of where: the same values, multiplies as gradients
        r_safe = r + zero_length_mask(r)  # 1 where r = 0 (padded edges), r elsewhere
        inside = ops.stop_gradient((x < self.cutoff.one).astype(r.dtype) * edge_mask)
        envelope = poly * inside / r_safe  # [E, 1]
        return ops.sin(r_safe * (self.basis.bessel_weights * self.basis.inv_r_max)) * envelope
