r"""The spherical harmonics of degrees :math:`\le 3` as one polynomial with a compact gradient (the Cells
:class:`PolynomialHarmonics` and :class:`NormalizedPolynomialHarmonics` that :class:`~mindchemistry_e3.o3.
SphericalHarmonics` runs when no degree exceeds 3), and e3nn's clamped inverse norm.

Forward: the monomials :math:`F` of :math:`v` (the input, or :math:`u = x / |x|` for
:class:`NormalizedPolynomialHarmonics`) up to degree ``d`` (2 or 3), built row by row as ``[count, N]``
(same-shape multiplies on contiguous rows), then one MatMul with the coefficient matrix :math:`C`: output
:math:`F^T C`.

Backward (a custom ``bprop``): MindSpore's autodiff of the row products costs two multiplies and a sum per
monomial plus the chain rule of the normalization (about 60 small kernels). Here the gradient is read off the rows
of :math:`G = C_{\ge 1}\, g^T` (one MatMul, one row per monomial of degree :math:`\ge 1`):
:math:`\partial_i (F^T C g) = \sum G_r F_m` over the pairs of :func:`._spherical_harmonics_np.monomial_gradient`
(``F_m`` of degree < ``d``: one multiply per pair, one ``AddN`` per coordinate); with the normalization the chain
rule of :math:`u = x / |x|` is folded in as the projection :math:`\partial_x = |x|^{-1} (\partial_u - u\,
(u \cdot \partial_u))` (no projection where the clamp holds the norm, see below). The ``bprop`` uses primitives
only, so graph mode differentiates it again: second-order gradients (forces in a loss) stay exact.

e3nn normalizes by :math:`\max(|x|, 10^{-12})`; here :math:`|x|^{-1}` is ``1 / sqrt(r2c)`` with ``r2c`` equal to
:math:`|x|^2` above :math:`10^{-24}`, to :math:`10^{-24}` below it and to 1 at exactly :math:`x = 0` (two selects,
not a ``maximum``: ``Maximum``'s gradient makes a ``FillV2``, which Ascend has no kernel for). The values are e3nn's;
at exactly :math:`x = 0` the derivative of :math:`u` is :math:`I` instead of e3nn's :math:`10^{12} I`, and no NaN
reaches first or second derivatives.

The ``bprop`` calls no helper that has a loop or an ``if`` (one class per case, comprehensions over build-time
tuples in its own body): when a second-order pass differentiates with respect to weights only (force training: the
positions are constants), MindSpore 2.10 failed with "The func graph is empty" on such a helper's blocks.
"""
import numpy as np
from mindspore import nn, ops

from ..util.dtype import constant
from ..util.precision import low_precision
from ._spherical_harmonics_np import EPS2, monomial_gradient, monomials


# primitives: a custom bprop is differentiated again (second order) only when it calls primitives / Cells
_ADDN = ops.AddN()
_DIV = ops.Div()
_GREATER = ops.Greater()
_ONES_LIKE = ops.OnesLike()
_SELECT = ops.Select()
_SQRT = ops.Sqrt()
_STACK = ops.Stack(0)
_TRANSPOSE = ops.Transpose()
_UNSTACK = ops.Unstack(0)
_ZEROS_LIKE = ops.ZerosLike()


def monomial_rows(u, products):
    """The monomials ``(1, x, y, z, x^2, ...)`` of the coordinate rows ``u = (x, y, z)`` (each ``[N]``) as a list of
    rows: monomial ``4 + j`` is ``monomial[parent] * u[var]`` for ``(parent, var) = products[j]`` (same-shape
    multiplies on contiguous rows; see :func:`._spherical_harmonics_np.monomials`). For ``construct`` only (it
    loops: no bprop may call it, see the module doc)."""
    mons = [_ONES_LIKE(u[0]), u[0], u[1], u[2]]
    for parent, var in products:
        mons.append(mons[parent] * u[var])
    return mons


def inverse_norm(r2, eps2):
    """e3nn's ``1 / max(|x|, 1e-12)`` from ``r2 = |x|^2`` (any shape), except 1 at exactly ``x = 0`` (see the module
    doc); ``eps2`` is ``1e-24`` as a 0-d Tensor of ``r2``'s dtype. Returns ``(inverse norm, |x|^2 > eps2)``."""
    one = _ONES_LIKE(r2)
    big = _GREATER(r2, eps2)
    r2c = _SELECT(big, r2, _SELECT(_GREATER(r2, _ZEROS_LIKE(eps2)), one * eps2, one))
    return _DIV(one, _SQRT(r2c)), big


class PolynomialHarmonics(nn.Cell):
    r"""``F(x)^T C`` for the monomials ``F`` of ``x`` up to ``degree`` (2 or 3), with the compact gradient of the
    module doc (:class:`NormalizedPolynomialHarmonics`: of :math:`x / |x|`).

    Args:
        matrix (numpy.ndarray): :math:`C`, ``(len(monomials(degree)[0]), dim)`` float64.
        degree (int): 2 or 3.
        dtype (mindspore.dtype): dtype of the constants, the input and the output.
        compute_dtype (mindspore.dtype, optional): operand dtype of the two MatMuls (forward and gradient), see
            :mod:`mindchemistry_e3.util.precision`; None: ``dtype``.

    Inputs:
        - **x** (Tensor) - shape ``(N, 3)``.

    Outputs:
        Tensor of shape ``(N, dim)``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> poly = PolynomialHarmonics(np.eye(10)[:, 4:], 2, ms.float64)  # the six quadratic monomials
        >>> poly(ms.Tensor(np.array([[1.0, 2.0, 3.0]]))).asnumpy().tolist()
        [[1.0, 2.0, 3.0, 4.0, 6.0, 9.0]]
    """

    def __init__(self, matrix, degree, dtype, compute_dtype=None):
        super().__init__()
        if degree not in (2, 3):
            raise ValueError(f"PolynomialHarmonics: degree must be 2 or 3, got {degree!r}")
        _, self.products = monomials(degree)  # monomial 4 + j = monomial[parent] * (x, y, z)[var]
        grad = monomial_gradient(degree)
        n_lower = len(monomials(degree - 1)[0])
        # the lower rows L without the constant one: index m - 1 for monomial m. L_m = lower_scale[m] * monomial m:
        # the scale 2 (mixed quadratic monomials) is carried by the parent, as (parent + parent) * var: the
        # factors are u (x, y, z) then the doubled parents; lower product = factors[index] * u[var]
        doubled = tuple(sorted({parent - 1 for j, (parent, _) in enumerate(self.products[:n_lower - 4])
                                if grad.lower_scale[4 + j] == 2.0}))
        self.doubled = doubled
        self.lower_products = tuple((3 + doubled.index(parent - 1) if grad.lower_scale[4 + j] == 2.0 else parent - 1,
                                     var) for j, (parent, var) in enumerate(self.products[:n_lower - 4]))
        # per coordinate: the row of the constant monomial's term, then (row, lower index) of the products (split
        # at build time: no ``if`` in the bprop, see the module doc)
        self.terms = tuple((next(r for r, m in t if m == 0), tuple((r, m - 1) for r, m in t if m > 0))
                           for t in grad.terms)
        self.matrix = constant(matrix, dtype)
        self.grad_matrix = constant(np.asarray(matrix)[list(grad.rows)] * np.array(grad.row_scale)[:, None], dtype)
        self.eps2 = constant(np.array(EPS2), dtype)  # 0-d
        self.matmul_ta = low_precision(ops.MatMul(transpose_a=True), compute_dtype, dtype)  # [count, N]^T @ C
        self.matmul_tb = low_precision(ops.MatMul(transpose_b=True), compute_dtype, dtype)  # C @ g^T

    def construct(self, v):
        return self._polynomial(_UNSTACK(_TRANSPOSE(v, (1, 0))))

    def _polynomial(self, u):
        """``F(u)^T C`` from the coordinate rows ``u``."""
        return self.matmul_ta(_STACK(monomial_rows(u, self.products)), self.matrix)

    def bprop(self, v, out, dout):
        rows = _UNSTACK(self.matmul_tb(self.grad_matrix, dout))
        u = _UNSTACK(_TRANSPOSE(v, (1, 0)))
        factors = list(u) + [u[parent] + u[parent] for parent in self.doubled]
        lower = list(u) + [factors[index] * u[var] for index, var in self.lower_products]
        grad = [_ADDN([rows[c]] + [rows[r] * lower[m] for r, m in terms]) for c, terms in self.terms]
        return (_TRANSPOSE(_STACK(grad), (1, 0)),)


class NormalizedPolynomialHarmonics(PolynomialHarmonics):
    r""":class:`PolynomialHarmonics` of :math:`u = x / |x|` (e3nn's clamp, see the module doc); its gradient folds in
    the chain rule of the normalization as the projection :math:`|x|^{-1} (\partial_u - u\, (u \cdot \partial_u))`.
    Arguments, inputs and outputs as :class:`PolynomialHarmonics`.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> poly = NormalizedPolynomialHarmonics(np.eye(10)[:, 1:4], 2, ms.float64)  # the unit vector
        >>> poly(ms.Tensor(np.array([[0.0, 3.0, 4.0]]))).asnumpy().round(12).tolist()
        [[0.0, 0.6, 0.8]]
    """

    def _unit(self, v):
        """The rows of ``x / |x|`` (same-shape ops on ``[N]`` rows: no ``[N, 3] * [N, 1]`` broadcast, no K = 3
        MatMul), the inverse norm and where it is not clamped."""
        x, y, z = _UNSTACK(_TRANSPOSE(v, (1, 0)))
        inv, big = inverse_norm(x * x + y * y + z * z, self.eps2)
        return (x * inv, y * inv, z * inv), inv, big

    def construct(self, v):
        u, _, _ = self._unit(v)
        return self._polynomial(u)

    def bprop(self, v, out, dout):
        rows = _UNSTACK(self.matmul_tb(self.grad_matrix, dout))
        u, inv, big = self._unit(v)
        # (PolynomialHarmonics.bprop's lines: no helper with a loop in a bprop, see the module doc)
        factors = list(u) + [u[parent] + u[parent] for parent in self.doubled]
        lower = list(u) + [factors[index] * u[var] for index, var in self.lower_products]
        grad = [_ADDN([rows[c]] + [rows[r] * lower[m] for r, m in terms]) for c, terms in self.terms]
        # d/dx = |x|^-1 (d/du - u (u . d/du)), without the projection where the norm is clamped
        radial = _SELECT(big, _ADDN([u[0] * grad[0], u[1] * grad[1], u[2] * grad[2]]) * inv, _ZEROS_LIKE(inv))
        return (_TRANSPOSE(_STACK([grad[i] * inv - radial * u[i] for i in range(3)]), (1, 0)),)


__all__ = ["PolynomialHarmonics", "NormalizedPolynomialHarmonics", "monomial_rows", "inverse_norm", "EPS2"]
