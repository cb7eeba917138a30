r"""Spherical harmonics :math:`Y^l(x)` as in e3nn 0.6.0: homogeneous polynomials of degree :math:`l` in
:math:`(x, y, z)`, with :math:`y` as the polar axis, equivariant (:math:`Y^l(Rx) = D^l(R)\, Y^l(x)`), in the
``'integral'`` (:math:`\int_{S^2} (Y^l_m)^2 = 1`), ``'component'`` (:math:`\|Y^l(u)\|^2 = 2l+1`) or ``'norm'``
(:math:`\|Y^l(u)\| = 1`) normalization, for any :math:`l \ge 0`.

Lowering (planned in numpy by :func:`._spherical_harmonics_np.sh_lowering`, executed here with a few matmuls and
same-shape elementwise ops):

1. with ``normalize``, :math:`u = x / \max(|x|, 10^{-12})` exactly as e3nn (``sqrt(maximum(|x|^2, 1e-24))``,
   and 1 at exactly :math:`x = 0`, see below);
2. degrees :math:`\le 3` in one shot: every :math:`Y^l` is a homogeneous polynomial of degree :math:`l`, so the
   monomials :math:`F = (1, x, y, z, x^2, xy, \dots, z^3)` of the (normalized) vector -- built row by row as
   ``[count, N]``, each a product of an earlier row and ``x``, ``y`` or ``z`` (same-shape multiplies on
   contiguous rows) -- times one matrix :math:`C` (solved exactly in float64; it also applies the
   normalization and e3nn's component order) give them all: output :math:`= F^T C`, one MatMul. When no degree
   exceeds 3 (and some exceeds 1) this, the normalization included, is one Cell with a compact custom gradient
   (:mod:`._spherical_harmonics_poly`: one MatMul, then a multiply per pair of rows); on a CPU target without
   ``compute_dtype`` it runs as two generated C++ kernels instead, one pass over the rows forward and one for the
   gradient (:mod:`._spherical_harmonics_cpu`; off with :func:`mindchemistry_e3.util.native_kernels`);
3. degrees :math:`> 3` by the Clebsch-Gordan recursion
   :math:`Y^{l+1} = ((Y^l P_l) \odot (u T_l))\, M_l` (:math:`P_l, T_l` build the outer product
   :math:`Y^l \otimes u` as plain matmuls, :math:`M_l` is :math:`C^{l,1,l+1}` with e3nn's scale and sign);
4. one ``concat`` in the requested order (nothing is sliced: MindSpore's CPU slices are slow).

Zero vectors (padded edges): like e3nn, :math:`x = 0` gives :math:`u = 0`, so :math:`Y^0` is the constant and
:math:`Y^{l>0} = 0` (up to rounding); the clamp (:func:`._spherical_harmonics_poly.inverse_norm`: two selects
rather than a ``maximum``, whose gradient needs a ``FillV2`` that Ascend has no kernel for) routes nothing into the
square root, so first and second derivatives contain no NaN. At exactly :math:`x = 0` the denominator is 1 instead
of e3nn's :math:`10^{-12}`: same value, but :math:`du/dx = I` there (e3nn: :math:`10^{12} I`), so the gradient of
every :math:`Y^{l \ne 1}` is (numerically) 0 like e3nn's and that of :math:`Y^1` is :math:`10^{-12}` times e3nn's.
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..util._cell import GuardedCell, as_tensor
from ..util.dtype import check_float_dtype, constant
from ..util.precision import check_compute_dtype, compute_dtype_hint, low_precision
from ._irreps import Irreps
from ._spherical_harmonics_cpu import fused_harmonics
from ._spherical_harmonics_np import NORMALIZATIONS, check_ls, sh_lowering
from ._spherical_harmonics_poly import (EPS2, NormalizedPolynomialHarmonics, PolynomialHarmonics, inverse_norm,
                                        monomial_rows)


def _parse_request(irreps_out, irreps_in):
    """e3nn's rules: -> (ls, irreps_in, irreps_out)."""
    if isinstance(irreps_out, str):
        irreps_out = Irreps(irreps_out)
    if isinstance(irreps_out, Irreps) and irreps_in is None:
        for _, (l, p) in irreps_out:
            if l % 2 == 1 and p == 1:
                irreps_in = Irreps("1e")
    if irreps_in is None:
        irreps_in = Irreps("1o")
    irreps_in = Irreps(irreps_in)
    if irreps_in not in (Irreps("1x1o"), Irreps("1x1e")):
        raise ValueError(f"irreps_in for SphericalHarmonics must be either a vector (`1x1o`) or a pseudovector "
                         f"(`1x1e`), not `{irreps_in}`")
    input_p = irreps_in[0].ir.p
    if isinstance(irreps_out, Irreps):
        ls = []
        for mul, (l, p) in irreps_out:
            if p != input_p ** l:
                raise ValueError(f"irreps_out `{irreps_out}` passed to SphericalHarmonics asked for an output of "
                                 f"l = {l} with parity p = {p}, which is inconsistent with the input parity "
                                 f"{input_p}; the output parity should have been p = {input_p ** l}")
            ls.extend([l] * mul)
    elif isinstance(irreps_out, (int, np.integer)) and not isinstance(irreps_out, bool):
        ls = [irreps_out]
    else:
        try:
            ls = list(irreps_out)
        except TypeError:
            raise ValueError(f"SphericalHarmonics: cannot interpret {irreps_out!r} as degrees l (an int, a list "
                             f"of ints, a string or Irreps)") from None
    ls = check_ls(ls)
    irreps_out = Irreps([(1, (l, input_p ** l)) for l in ls]).simplify()
    return ls, irreps_in, irreps_out


class SphericalHarmonics(GuardedCell, nn.Cell):
    r"""Spherical harmonics of the input vectors (e3nn's ``o3.SphericalHarmonics``), see the module doc.

    Args:
        irreps_out (Union[int, list[int], str, Irreps]): the degrees ``l`` to output, in order (repeats allowed).
            With Irreps, each parity must be :math:`p_{in}^l`.
        normalize (bool): whether to project ``x`` on the unit sphere first.
        normalization (str): ``'integral'``, ``'component'`` or ``'norm'``. Default: ``'integral'``.
        irreps_in (Union[str, Irreps], optional): ``1x1o`` (vector, default) or ``1x1e`` (pseudovector; the
            default when ``irreps_out`` asks for an odd ``l`` with even parity).
        dtype (mindspore.dtype): dtype of the constants (keyword-only). Default: the default dtype
            (``get_default_dtype()``).
        compute_dtype (mindspore.dtype, optional): ``mindspore.float16`` or ``mindspore.bfloat16``: the operands
            of the polynomial's MatMuls in that dtype; the norm of ``x``, the monomials and the output in ``dtype``
            (:mod:`mindchemistry_e3.util.precision`); keyword-only. Default None.

    Inputs:
        - **x** (Tensor) - shape ``(..., 3)``.

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)``.

    Raises:
        ValueError: negative or non-integer ``l``, unknown ``normalization``, inconsistent parities, ``irreps_in``
            not a (pseudo)vector, or ``x`` whose last dimension is not 3.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> sh = SphericalHarmonics("0e + 1o + 2e", normalize=True, normalization="component")
        >>> y = sh(ms.Tensor(np.array([[0.0, 2.0, 0.0]], np.float32))).asnumpy().astype(np.float64)
        >>> (y.round(4) + 0.0).tolist()
        [[1.0, 0.0, 1.7321, 0.0, 0.0, 0.0, 2.2361, 0.0, 0.0]]
    """

    def __init__(self, irreps_out, normalize, normalization="integral", irreps_in=None, *, dtype=None,
                 compute_dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.dtype = dtype
        self.compute_dtype = check_compute_dtype(compute_dtype, dtype, "SphericalHarmonics")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"SphericalHarmonics: normalization must be one of {NORMALIZATIONS}, "
                             f"got {normalization!r}")
        ls, self.irreps_in, self.irreps_out = _parse_request(irreps_out, irreps_in)
        self.normalize = bool(normalize)
        self.normalization = normalization
        self.dim = sum(2 * l + 1 for l in ls)
        low = sh_lowering(ls, normalization, self.normalize)
        self._low_degree = low.low_degree
        self._has_seed = low.seed is not None
        # degrees <= 3 (not all <= 1): one polynomial Cell with a compact gradient, the normalization included
        self._polynomial = low.low_degree > 1 and not self._has_seed
        self.polynomial = None
        if self._polynomial:
            if self.compute_dtype is None:  # on CPU: two fused kernels (forward, gradient) if they can be built
                self.polynomial = fused_harmonics(low.low[0], low.low_degree, self.normalize, dtype)
            if self.polynomial is None:
                poly = NormalizedPolynomialHarmonics if self.normalize else PolynomialHarmonics
                self.polynomial = poly(low.low[0], low.low_degree, dtype, self.compute_dtype)
        self._products = low.products  # monomial 4 + j = monomial[parent] * (x, y, z)[var]
        if low.low_degree == 1:  # F = (1, x, y, z): F^T C = v C[1:] + C[0], a MatMul and a BiasAdd on [N, 3]
            self.low_mats = tuple(constant(m[1:], dtype) for m in low.low)
            self.low_bias = tuple(constant(m[0], dtype) for m in low.low)
        else:
            self.low_mats = tuple(constant(m, dtype) for m in low.low)
            self.low_bias = ()
        self.seed_mat = constant(low.seed if self._has_seed else np.zeros((1, 1)), dtype)
        self.steps = tuple((constant(r, dtype), constant(t, dtype), constant(m, dtype)) for r, t, m in low.steps)
        # (0, index into low) or (1, index into the recursion results: l - 4)
        self._pieces = tuple((0, p[1]) if p[0] == "low" else (1, p[1] - 4) for p in low.pieces)
        self.eps2 = constant(np.array(EPS2), dtype)  # 0-d
        # the MatMul primitive: its backward is ~3x faster than ops.matmul's on CPU (no explicit transposes)
        self.norm_matmul = ops.MatMul()  # |x|^2 stays in dtype
        self.matmul = low_precision(ops.MatMul(), self.compute_dtype, dtype)
        # [count, N]^T @ [count, d]
        self.matmul_ta = low_precision(ops.MatMul(transpose_a=True), self.compute_dtype, dtype)
        self.ones31 = constant(np.ones((3, 1)), dtype)

    def _features(self, v):
        """The monomials of ``v`` up to ``low_degree``, stacked as ``[count, N]`` (rows are contiguous)."""
        if self._low_degree == 0:
            return ops.ones((1, v.shape[0]), v.dtype)
        return ops.stack(monomial_rows(ops.unstack(ops.transpose(v, (1, 0)), 0), self._products), 0)

    def construct(self, x):
        if x.shape[-1] != 3:
            raise ValueError(f"SphericalHarmonics expects x of shape (..., 3), got {x.shape}")
        if x.dtype != self.dtype:
            raise ValueError(f"SphericalHarmonics was built with dtype={self.dtype}; got x of dtype {x.dtype} "
                             f"(build it with dtype={x.dtype}, or cast x)" + compute_dtype_hint(self.dtype, x.dtype))
        lead = x.shape[:-1]
        flat = len(lead) == 1
        v = x if flat else x.reshape(-1, 3)
        if self._polynomial:
            return self._assemble([self.polynomial(v)], (), lead, flat)
        lows = []
        if self.normalize:
            r2 = self.norm_matmul(v * v, self.ones31)  # a matmul: cheaper backward than sum's Tile on CPU
            v = v * inverse_norm(r2, self.eps2)[0]
        feats = v
        if self._low_degree == 1:
            for mat, bias in zip(self.low_mats, self.low_bias):
                lows.append(ops.bias_add(self.matmul(v, mat), bias))
        else:
            feats = self._features(v)
            for mat in self.low_mats:
                lows.append(self.matmul_ta(feats, mat))
        highs = []
        if self._has_seed:
            y = self.matmul_ta(feats, self.seed_mat)
            for rep, tile, m in self.steps:
                y = self.matmul(self.matmul(y, rep) * self.matmul(v, tile), m)
                highs.append(y)
        return self._assemble(lows, highs, lead, flat)

    def _assemble(self, lows, highs, lead, flat):
        """The requested degrees in order, from the low-degree products and the recursion's results."""
        pieces = []
        for kind, i in self._pieces:
            if kind == 0:
                pieces.append(lows[i])
            else:
                pieces.append(highs[i])
        if len(pieces) == 1:
            out = pieces[0]
        else:
            out = ops.concat(pieces, -1)
        if flat:
            return out
        return out.reshape(lead + (self.dim,))

    def extend_repr(self):
        return f"{self.irreps_out}, normalize={self.normalize}, normalization={self.normalization!r}"


_CELL_CACHE = {}


def _request_key(l):
    """A hashable key for the requested degrees, or None when ``l`` cannot be a request (no ``try``: this also
    runs while MindSpore compiles a ``construct`` that calls :func:`spherical_harmonics`)."""
    if isinstance(l, (str, Irreps)):
        return ("irreps", str(l))
    if isinstance(l, (int, np.integer)) and not isinstance(l, bool):
        return ("ls", int(l))
    if isinstance(l, (list, tuple)):
        return ("ls", check_ls(l))
    return None


def spherical_harmonics(l, x, normalize, normalization="integral"):
    r"""Spherical harmonics :math:`Y^l(x)` (e3nn's ``o3.spherical_harmonics``); see :class:`SphericalHarmonics`.

    Builds (once per request and dtype, cached) a :class:`SphericalHarmonics` Cell with ``x``'s dtype and applies
    it. It also works inside a graph-mode ``construct`` (the Cell is then built while compiling), but creating the
    Cell in ``__init__`` is the cleaner pattern.

    Args:
        l (Union[int, list[int], str, Irreps]): degree(s) of the spherical harmonics.
        x (Tensor): shape ``(..., 3)``.
        normalize (bool): whether to project ``x`` on the unit sphere first.
        normalization (str): ``'integral'``, ``'component'`` or ``'norm'``. Default: ``'integral'``.

    Returns:
        Tensor of shape ``(..., sum(2l+1))``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> spherical_harmonics(0, ms.Tensor(np.random.randn(2, 3).astype(np.float32)), False,
        ...                     normalization="component").asnumpy().tolist()
        [[1.0], [1.0]]
    """
    x = as_tensor(x)  # a numpy array becomes a Tensor of its dtype
    key = (_request_key(l), bool(normalize), normalization, x.dtype)
    if key[0] is None:
        return SphericalHarmonics(l, normalize, normalization, dtype=x.dtype)(x)  # raises a clear ValueError
    cell = _CELL_CACHE.get(key)
    if cell is None:
        cell = SphericalHarmonics(l, normalize, normalization, dtype=x.dtype)
        _CELL_CACHE[key] = cell
    return cell(x)


__all__ = ["SphericalHarmonics", "spherical_harmonics"]
