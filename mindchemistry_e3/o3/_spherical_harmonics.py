r"""Spherical harmonics :math:`Y^l(x)` as in e3nn 0.6.0: homogeneous polynomials of degree :math:`l` in
:math:`(x, y, z)`, with :math:`y` as the polar axis, equivariant (:math:`Y^l(Rx) = D^l(R)\, Y^l(x)`), in the
``'integral'`` (:math:`\int_{S^2} (Y^l_m)^2 = 1`), ``'component'`` (:math:`\|Y^l(u)\|^2 = 2l+1`) or ``'norm'``
(:math:`\|Y^l(u)\| = 1`) normalization, for any :math:`l \ge 0`.

Lowering (planned in numpy by :func:`._spherical_harmonics_np.sh_lowering`, executed here with a few matmuls):

1. :math:`\tilde x = (x, 1)`; with ``normalize``, :math:`\tilde u = \tilde x \odot \rho` where
   :math:`\rho = 1/|x|` on the three vector columns (computed as ``rsqrt`` of :math:`(\tilde x \odot \tilde x)R`, a
   matmul that puts :math:`|x|^2` in every vector column, so nothing broadcasts) and 1 on the constant column;
2. degrees :math:`\le 3` in one shot: :math:`L = \tilde u V` (12 linear forms :math:`v_i \cdot u` and the constant),
   :math:`F = [L, L^2, L^3]`, output :math:`= F C` -- every form of degree :math:`\le 3` is a combination of
   powers of linear forms, and :math:`C` (solved in float64) also applies the normalization and the output order;
3. degrees :math:`> 3` by the Clebsch-Gordan recursion
   :math:`Y^{l+1} = ((Y^l P_l) \odot (\tilde u T_l))\, M_l` (:math:`P_l, T_l` build the outer product
   :math:`Y^l \otimes u` as plain matmuls, :math:`M_l` is :math:`C^{l,1,l+1}` with e3nn's scale and sign);
4. one ``concat`` in the requested order.

Zero vectors (padded edges): e3nn's ``normalize`` maps :math:`x = 0` to :math:`u = 0`, so :math:`Y^0 = 1` and
:math:`Y^{l>0} = 0` -- the same values here. The square root only sees :math:`|x|^2 > 10^{-24}` (double
``where``), so first and second derivatives are finite at :math:`x = 0` (there :math:`du/dx = I`, where e3nn's
is :math:`10^{12} I`). For :math:`0 < |x| \le 10^{-12}`, e3nn divides by :math:`10^{-12}` and this module uses
:math:`u = x`; both are :math:`\approx 0` and the difference stays below :math:`10^{-12}` in every :math:`Y^{l>0}`.
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..util.dtype import check_float_dtype, constant
from ._irreps import Irreps
from ._spherical_harmonics_np import NORMALIZATIONS, check_ls, sh_lowering

_TINY = 1e-24  # |x|^2 below this counts as a zero vector


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


class SphericalHarmonics(nn.Cell):
    r"""Spherical harmonics of the input vectors (e3nn's ``o3.SphericalHarmonics``), see the module doc.

    Args:
        irreps_out (Union[int, list[int], str, Irreps]): the degrees ``l`` to output, in order (repeats allowed).
            With Irreps, each parity must be :math:`p_{in}^l`.
        normalize (bool): whether to project ``x`` on the unit sphere first.
        normalization (str): ``'integral'``, ``'component'`` or ``'norm'``. Default: ``'integral'``.
        irreps_in (Union[str, Irreps], optional): ``1x1o`` (vector, default) or ``1x1e`` (pseudovector; the
            default when ``irreps_out`` asks for an odd ``l`` with even parity).
        dtype (mindspore.dtype): dtype of the constants (keyword-only). Default: float32.

    Inputs:
        - **x** (Tensor) - shape ``(..., 3)``.

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)``.

    Raises:
        ValueError: negative or non-integer ``l``, unknown ``normalization``, inconsistent parities, ``irreps_in``
            not a (pseudo)vector, or ``x`` whose last dimension is not 3.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> sh = SphericalHarmonics("0e + 1o + 2e", normalize=True, normalization="component")
        >>> sh(ms.Tensor(np.array([[0.0, 2.0, 0.0]], np.float32))).asnumpy().round(4).tolist()
        [[1.0, 0.0, 1.7321, 0.0, 0.0, 0.0, 2.2361, 0.0, 0.0]]
    """

    def __init__(self, irreps_out, normalize, normalization="integral", irreps_in=None, *, dtype=ms.float32):
        super().__init__()
        check_float_dtype(dtype)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"SphericalHarmonics: normalization must be one of {NORMALIZATIONS}, "
                             f"got {normalization!r}")
        ls, self.irreps_in, self.irreps_out = _parse_request(irreps_out, irreps_in)
        self.normalize = bool(normalize)
        self.normalization = normalization
        self._ls_list = list(ls)
        self._lmax = max(ls)
        self.dim = sum(2 * l + 1 for l in ls)
        low = sh_lowering(ls, normalization)
        self._low_degree = low.low_degree
        self._has_lift = low.lift is not None
        self.lift = constant(low.lift if self._has_lift else np.zeros((4, 1)), dtype)
        self.low = constant(low.low, dtype)
        self.radius_matrix = constant(low.radius_matrix, dtype)
        self._seed = tuple(low.seed)
        self._has_steps = len(low.steps) > 0
        self.steps = tuple((constant(r, dtype), constant(t, dtype), constant(m, dtype)) for r, t, m in low.steps)
        # pieces as tuples of Python ints: (0, a, b) for a low range, (1, index of the step result, 0)
        self._pieces = tuple((0, p[1], p[2]) if p[0] == "low" else (1, p[1] - 4, 0) for p in low.pieces)

    def construct(self, x):
        if x.shape[-1] != 3:
            raise ValueError(f"SphericalHarmonics expects x of shape (..., 3), got {x.shape}")
        lead = x.shape[:-1]
        x = x.reshape(-1, 3)
        x = ops.concat([x, ops.ones((x.shape[0], 1), x.dtype)], -1)
        if self.normalize:
            r2 = ops.matmul(x * x, self.radius_matrix)
            big = r2 > _TINY
            one = ops.ones_like(r2)
            x = x * ops.where(big, ops.rsqrt(ops.where(big, r2, one)), one)
        if self._has_lift:
            lin = ops.matmul(x, self.lift)
            sq = lin * lin
            if self._low_degree == 3:
                feats = ops.concat([lin, sq, sq * lin], -1)
            else:
                feats = ops.concat([lin, sq], -1)
        else:
            feats = x
        low = ops.matmul(feats, self.low)
        highs = []
        if self._has_steps:
            y = low[:, self._seed[0]:self._seed[1]]
            for rep, tile, m in self.steps:
                y = ops.matmul(ops.matmul(y, rep) * ops.matmul(x, tile), m)
                highs.append(y)
        pieces = []
        for kind, a, b in self._pieces:
            if kind == 0:
                pieces.append(low[:, a:b])
            else:
                pieces.append(highs[a])
        if len(pieces) == 1:
            out = pieces[0]
        else:
            out = ops.concat(pieces, -1)
        return out.reshape(lead + (self.dim,))

    def extend_repr(self):
        return f"{self.irreps_out}, normalize={self.normalize}, normalization={self.normalization!r}"


_CELL_CACHE = {}


def spherical_harmonics(l, x, normalize, normalization="integral"):
    r"""Spherical harmonics :math:`Y^l(x)` (e3nn's ``o3.spherical_harmonics``); see :class:`SphericalHarmonics`.

    Builds (once per request and dtype, cached) a :class:`SphericalHarmonics` Cell with ``x``'s dtype and applies
    it. Inside a ``construct``, create the Cell in ``__init__`` instead.

    Args:
        l (Union[int, list[int], str, Irreps]): degree(s) of the spherical harmonics.
        x (Tensor): shape ``(..., 3)``.
        normalize (bool): whether to project ``x`` on the unit sphere first.
        normalization (str): ``'integral'``, ``'component'`` or ``'norm'``. Default: ``'integral'``.

    Returns:
        Tensor of shape ``(..., sum(2l+1))``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> spherical_harmonics(0, ms.Tensor(np.random.randn(2, 3).astype(np.float32)), False,
        ...                     normalization="component").asnumpy().tolist()
        [[1.0], [1.0]]
    """
    key_l = tuple(l) if isinstance(l, list) else (l if isinstance(l, (int, str)) else str(l))
    key = (key_l, bool(normalize), normalization, x.dtype)
    cell = _CELL_CACHE.get(key)
    if cell is None:
        cell = SphericalHarmonics(l, normalize, normalization, dtype=x.dtype)
        _CELL_CACHE[key] = cell
    return cell(x)


__all__ = ["SphericalHarmonics", "spherical_harmonics"]
