r"""The numpy plan of the spherical harmonics (no MindSpore): recursion matrices and output layout.

e3nn's :math:`Y^l` are homogeneous polynomials of degree :math:`l` in :math:`(x, y, z)`, equivariant
(:math:`Y^l(Rx) = D^l(R) Y^l(x)`), with :math:`y` as the polar axis. They obey

.. math:: Y^{l+1}(x) = c_l\, C^{l,1,l+1} \cdot (Y^l(x) \otimes x),

with :math:`C^{l,1,l+1}` the real Wigner 3j tensor (:func:`._so3_np.wigner_3j`). Since the equivariant map
:math:`l \otimes 1 \to l+1` is unique up to a scalar, :math:`c_l` is fixed by two conditions checked here in
float64: the ``component`` normalization :math:`\|Y^{l+1}(u)\|^2 = 2l+3` on the unit sphere, and the sign
convention of e3nn (the :math:`m = 0` component at the pole :math:`u = e_y` is positive, as for the Legendre
polynomials :math:`P_l(1) = 1`).

So :math:`Y^{l+1} = \mathrm{flat}(Y^l \otimes x)\, M_l` with ``M_l`` of shape ``(3(2l+1), 2l+3)`` (row index
``3 j + k`` for :math:`Y^l_j x_k`). :func:`sh_plan` folds the output normalization into these matrices and says
which :math:`Y^l` are emitted, in which order, with which scale.

>>> plan = sh_plan((0, 1, 2), "component")
>>> plan.lmax, [m.shape for m in plan.matrices]
(2, [(9, 5)])
"""
import functools
from typing import NamedTuple, Tuple

import numpy as np

from ._so3_np import wigner_3j

NORMALIZATIONS = ("integral", "component", "norm")
EPS2 = 1e-24  # e3nn normalizes by max(|x|, 1e-12): the clamp of |x|^2


@functools.lru_cache(maxsize=None)
def component_recursion_matrix(l):
    r"""``M_l`` (float64, ``(3(2l+1), 2l+3)``): :math:`Y^{l+1} = \mathrm{flat}(Y^l \otimes x) M_l` in the
    ``component`` normalization, e3nn's signs.

    >>> M = component_recursion_matrix(0)
    >>> np.round(M, 6).tolist()
    [[1.732051, 0.0, 0.0], [0.0, 1.732051, 0.0], [0.0, 0.0, 1.732051]]
    """
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"l must be a non-negative integer, got {l!r}")
    l = int(l)
    m = np.asarray(wigner_3j(l, 1, l + 1), dtype=np.float64).reshape(3 * (2 * l + 1), 2 * l + 3)
    # Y^l on the unit sphere along e_y (component normalization) -- built by the recursion itself
    pole = np.array([0.0, 1.0, 0.0])
    y_pole = component_sh_at(l, pole)
    z = np.kron(y_pole, pole) @ m
    norm2 = float(z @ z)
    if not norm2 > 1e-12:  # pragma: no cover - the zonal harmonic never vanishes at the pole
        raise AssertionError(f"the recursion l={l} -> {l + 1} vanishes at the pole")
    scale = np.sqrt((2 * l + 3) / norm2) * np.sign(z[l + 1])
    out = m * scale
    out.setflags(write=False)
    return out


def component_sh_at(l, u):
    r""":math:`Y^l(u)` for one vector ``u`` (shape ``(3,)``) by the recursion, ``component`` normalization.

    >>> component_sh_at(1, np.array([0.0, 1.0, 0.0])).round(6).tolist()
    [0.0, 1.732051, 0.0]
    """
    y = np.ones(1)
    for k in range(l):
        y = np.kron(y, u) @ component_recursion_matrix(k)
    return y


class ShPlan(NamedTuple):
    """Everything the MindSpore side needs, as numpy float64 (read-only)."""

    ls: Tuple[int, ...]              # requested degrees, in output order (repeats allowed)
    lmax: int
    matrices: Tuple[np.ndarray, ...]  # state^{l+1} = flat(state^l (x) u) @ matrices[l-1], l = 1..lmax-1
    state_scale: Tuple[float, ...]   # output Y^l = state^l * out_scale[l]; state^1 = u (the input vector)
    out_scale: Tuple[np.ndarray, ...]  # per l, shape (1,) float64
    dim: int


def check_ls(ls):
    """Validate a list of degrees; return it as a tuple of ints."""
    ls = tuple(ls)
    if not ls:
        raise ValueError("spherical_harmonics needs at least one degree l, got an empty list")
    for l in ls:
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
            raise ValueError(f"spherical_harmonics degrees must be non-negative integers, got l={l!r} in {list(ls)}")
    return tuple(int(l) for l in ls)


@functools.lru_cache(maxsize=None)
def sh_plan(ls, normalization):
    r"""The plan for degrees ``ls`` (tuple) in ``normalization`` (``'integral'``, ``'component'``, ``'norm'``).

    Internally the state of degree :math:`l \ge 2` is :math:`Y^l` already in the target normalization and the
    state of degree 1 is the (normalized) input vector itself, so that all scale factors sit in the matrices.

    >>> p = sh_plan((1,), "component")
    >>> p.dim, round(float(p.out_scale[1][0]) ** 2, 12)
    (3, 3.0)
    """
    ls = check_ls(ls)
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    lmax = max(ls)

    def target(l):  # Y^l_target = target(l) * Y^l_component
        if normalization == "integral":
            return 1.0 / np.sqrt(4 * np.pi)
        if normalization == "norm":
            return 1.0 / np.sqrt(2 * l + 1)
        return 1.0

    # state^l = b_l * Y^l_component with b_1 = 1/sqrt(3) (state^1 = u), b_l = target(l) otherwise
    b = [target(0), 1.0 / np.sqrt(3.0)] + [target(l) for l in range(2, lmax + 1)]
    matrices = []
    for l in range(1, lmax):
        m = component_recursion_matrix(l) * (b[l + 1] / b[l])
        m.setflags(write=False)
        matrices.append(m)
    out_scale = []
    for l in range(lmax + 1):
        s = np.array([target(l) / b[l]])
        s.setflags(write=False)
        out_scale.append(s)
    return ShPlan(ls=ls, lmax=lmax, matrices=tuple(matrices), state_scale=tuple(b), out_scale=tuple(out_scale),
                  dim=sum(2 * l + 1 for l in ls))


def spherical_harmonics_np(ls, x, normalize, normalization="integral"):
    r"""Reference evaluation in numpy float64 (same plan, same conventions; for tests and plan-time use).

    >>> spherical_harmonics_np([0, 1], np.array([[0.0, 2.0, 0.0]]), True, "component").round(6).tolist()
    [[1.0, 0.0, 1.732051, 0.0]]
    """
    plan = sh_plan(check_ls(ls), normalization)
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1:] != (3,):
        raise ValueError(f"spherical_harmonics expects x of shape (..., 3), got {x.shape}")
    if normalize:
        r = np.sqrt((x * x).sum(-1, keepdims=True))
        x = x / np.maximum(r, 1e-12)
    states = [np.ones(x.shape[:-1] + (1,)) * plan.state_scale[0], x]
    for m in plan.matrices:
        outer = states[-1][..., :, None] * x[..., None, :]
        states.append(outer.reshape(x.shape[:-1] + (-1,)) @ m)
    return np.concatenate([states[l] * plan.out_scale[l] for l in plan.ls], axis=-1)


LOW_LMAX = 3  # degrees <= 3 come from the monomials of degree <= 3 in one matmul


@functools.lru_cache(maxsize=None)
def monomials(degree):
    r"""The monomials :math:`x^a y^b z^c` of degree :math:`\le` ``degree`` and how to build them by products.

    Returns ``(exponents, products)``: ``exponents[i] = (a, b, c)`` in the order degree 0, 1 (``x, y, z``), 2, 3,
    ... (within a degree, lexicographically decreasing); ``products[j] = (parent, var)`` builds monomial
    ``4 + j`` (every one of degree >= 2) as ``monomial[parent] * (x, y, z)[var]``.

    >>> e, p = monomials(2)
    >>> e
    ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 2, 0), (0, 1, 1), (0, 0, 2))
    >>> p
    ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))
    """
    exps = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)][:1 + 3 * min(degree, 1)]
    products = []
    for d in range(2, degree + 1):
        for a in range(d, -1, -1):
            for b in range(d - a, -1, -1):
                e = (a, b, d - a - b)
                var = next(k for k in range(3) if e[k] > 0)  # divide by the first variable present
                parent = tuple(e[k] - (k == var) for k in range(3))
                products.append((exps.index(parent), var))
                exps.append(e)
    return tuple(exps), tuple(products)


def monomial_features_np(v, degree):
    """The monomials of :func:`monomials` evaluated at ``v [N, 3]`` -> ``[N, count]`` (float64).

    >>> monomial_features_np(np.array([[2.0, 3.0, 5.0]]), 2).tolist()
    [[1.0, 2.0, 3.0, 5.0, 4.0, 6.0, 10.0, 9.0, 15.0, 25.0]]
    """
    exps, products = monomials(degree)
    cols = [np.ones(len(v))] + ([v[:, 0], v[:, 1], v[:, 2]] if degree >= 1 else [])
    for parent, var in products:
        cols.append(cols[parent] * v[:, var])
    assert len(cols) == len(exps)
    return np.stack(cols, axis=1)


class MonomialGradient(NamedTuple):
    r"""How the gradient of :math:`F^T C` (``F`` the monomials of degree :math:`\le d`, :func:`monomials`) with respect
    to the variables is read off :math:`G = (s \odot C_{rows})\, g^T` (``g`` the cotangent), see
    :func:`monomial_gradient`."""

    rows: Tuple[int, ...]          # the monomials of degree 1..d: rows of C (and of G) the gradient uses, in order
    row_scale: Tuple[float, ...]   # s: per row, the factor it carries into G
    lower_scale: Tuple[float, ...]  # per monomial of degree < d: the factor of its lower row L_m (1 or 2)
    terms: tuple                   # per variable i: ((position in rows, index m of a monomial of degree < d), ...)


@functools.lru_cache(maxsize=None)
def monomial_gradient(degree):
    r"""The gradient of a polynomial :math:`F^T C` of degree ``degree`` (1, 2 or 3) as sums of products of rows.

    :math:`\partial_i (F^T C g) = \sum_{(r, m)} G_r\, L_m` over ``terms[i]``, with
    :math:`G = (s \odot C_{rows})\, g^T` (one row per monomial of degree :math:`\ge 1`, scaled by ``row_scale``) and
    :math:`L_m` = ``lower_scale[m]`` times the monomial ``m`` of degree < ``degree`` (``m = 0``: the constant, no
    product): each monomial :math:`v^{e + e_i}` contributes :math:`(e_i + 1)\, v^e`, and the factor
    :math:`e_i + 1` is split into the row's and the lower monomial's scale (2 on the mixed quadratic monomials, so
    that :math:`\partial_x (x^2 y) = 2xy` and :math:`\partial_y (x^2 y) = x^2` share the row of :math:`x^2 y`).

    >>> grad = monomial_gradient(2)
    >>> grad.rows, grad.row_scale
    ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 2.0))
    >>> grad.terms[0]  # d/dx of (x, xx, xy, xz) -> 1, 2x, y, z
    ((0, 0), (3, 1), (4, 2), (5, 3))
    """
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not 1 <= degree <= LOW_LMAX:
        raise ValueError(f"monomial_gradient needs a degree in 1..{LOW_LMAX}, got {degree!r}")
    exps, _ = monomials(int(degree))
    lower = exps[:len(monomials(int(degree) - 1)[0])]
    rows = tuple(k for k, e in enumerate(exps) if sum(e) >= 1)
    lower_scale = tuple(2.0 if sum(e) == 2 and max(e) == 1 else 1.0 for e in lower)
    row_scale = {}
    terms = []
    for i in range(3):
        t = []
        for m, e in enumerate(lower):
            up = exps.index(tuple(e[k] + (k == i) for k in range(3)))
            scale = (e[i] + 1) / lower_scale[m]
            if row_scale.setdefault(up, scale) != scale:  # pragma: no cover - consistent for degrees <= 3
                raise AssertionError(f"monomial {exps[up]} needs two scales")
            t.append((rows.index(up), m))
        terms.append(tuple(t))
    return MonomialGradient(rows=rows, row_scale=tuple(row_scale[r] for r in rows), lower_scale=lower_scale,
                            terms=tuple(terms))


def monomial_gradient_np(matrix, degree, v, g):
    """``d/dv sum(F(v)^T matrix * g)`` by :func:`monomial_gradient` in numpy float64 (``v [N, 3]``, ``g [N, dim]``),
    for tests.

    >>> monomial_gradient_np(np.eye(4)[:, 1:], 1, np.zeros((1, 3)), np.array([[1.0, 2.0, 3.0]])).tolist()
    [[1.0, 2.0, 3.0]]
    """
    grad = monomial_gradient(degree)
    scaled = np.asarray(matrix, np.float64)[list(grad.rows)] * np.array(grad.row_scale)[:, None]
    rows = np.asarray(g, np.float64) @ scaled.T  # [N, len(rows)]
    lower = monomial_features_np(np.asarray(v, np.float64), degree - 1) * np.array(grad.lower_scale)
    return np.stack([sum(rows[:, r] * lower[:, m] for r, m in grad.terms[i]) for i in range(3)], axis=1)


class ShLowering(NamedTuple):
    r"""The lowering the MindSpore side executes (every array float64, read-only).

    ``v`` is the input vector (``normalize=False``) or the unit vector ``u`` (``normalize=True``). Every
    :math:`Y^l` is a homogeneous polynomial of degree :math:`l` in ``v``, so for :math:`l \le 3`:

    * ``F``: the monomials of ``v`` up to ``low_degree`` (:func:`monomials`: ``1``, ``x, y, z``, then each
      monomial as the product of an earlier one with ``x``, ``y`` or ``z``: one same-shape multiply each);
    * ``low``: one matrix per run of consecutive degrees :math:`\le 3` in ``ls``: output ``F @ matrix``
      (exact: each :math:`Y^l` uses only the monomials of degree :math:`l`; the matrix also applies the
      normalization and e3nn's component order); ``seed``: the same for :math:`Y^3` when ``lmax > 3`` (else None);
    * ``steps``: for :math:`l = 3..lmax-1`, ``(rep, tile, m)`` with
      :math:`Y^{l+1} = ((Y^l\, \mathrm{rep}) \odot (v\, \mathrm{tile}))\, m` (``rep``/``tile`` build the flattened
      outer product :math:`Y^l \otimes v` with plain matmuls, ``m`` is the recursion matrix);
    * ``pieces``: the output as a concatenation of ``("low", i)`` and ``("high", l)``.
    """

    ls: Tuple[int, ...]
    dim: int
    low_degree: int
    products: tuple
    low: tuple
    seed: object
    steps: tuple
    pieces: tuple


def _readonly(a):
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _fit_points():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(300, 3))
    return pts * rng.uniform(0.2, 3.0, (300, 1))


@functools.lru_cache(maxsize=None)
def sh_lowering(ls, normalization, normalize):
    r"""The :class:`ShLowering` for degrees ``ls`` (tuple), ``normalization`` and ``normalize``; cached.

    The coefficients of each :math:`Y^l` on the monomials of degree :math:`l` are solved here in float64 against
    :func:`spherical_harmonics_np` (least squares on 300 points; the residual is checked to be below 1e-12,
    i.e. the identities are exact). ``normalize`` only decides, on the MindSpore side, whether ``v`` is the unit
    vector.

    >>> low = sh_lowering((0, 1, 2, 3), "component", True)
    >>> low.low_degree, low.low[0].shape, low.pieces
    (3, (20, 16), (('low', 0),))
    """
    plan = sh_plan(check_ls(ls), normalization)
    ls, lmax = plan.ls, plan.lmax
    low_degree = min(lmax, LOW_LMAX)
    exps, products = monomials(low_degree)
    pts = _fit_points()
    feats = monomial_features_np(pts, low_degree)
    degree = np.array([sum(e) for e in exps])

    def solve(degrees):
        cols = []
        for l in degrees:
            target = spherical_harmonics_np([l], pts, False, normalization)
            coef = np.zeros((len(exps), 2 * l + 1))
            rows = degree == l
            coef[rows], *_ = np.linalg.lstsq(feats[:, rows], target, rcond=None)
            coef[np.abs(coef) < 1e-13] = 0.0
            cols.append(coef)
        matrix = np.concatenate(cols, axis=1)
        ref = np.concatenate([spherical_harmonics_np([l], pts, False, normalization) for l in degrees], axis=1)
        err = np.abs(feats @ matrix - ref).max() / max(1.0, np.abs(ref).max())
        if err > 1e-12:  # pragma: no cover - the monomials span every homogeneous polynomial
            raise AssertionError(f"spherical harmonics lowering is inexact for l={degrees}: {err}")
        return _readonly(matrix)

    pieces, low, run = [], [], []
    for l in ls + (None,):
        if l is not None and l <= LOW_LMAX:
            run.append(l)
            continue
        if run:
            low.append(solve(run))
            pieces.append(("low", len(low) - 1))
            run = []
        if l is not None:
            pieces.append(("high", l))
    seed = solve([LOW_LMAX]) if lmax > LOW_LMAX else None

    steps = []
    for l in range(LOW_LMAX, lmax):
        d = 2 * l + 1
        rep = np.kron(np.eye(d), np.ones((1, 3)))      # (d, 3d): column 3j+k <- Y_j
        tile = np.kron(np.ones((1, d)), np.eye(3))     # (3, 3d): column 3j+k <- v_k
        steps.append((_readonly(rep), _readonly(tile), _readonly(plan.matrices[l - 1])))
    return ShLowering(ls=ls, dim=plan.dim, low_degree=low_degree, products=products, low=tuple(low), seed=seed,
                      steps=tuple(steps), pieces=tuple(pieces))


def evaluate_lowering_np(lowering, x, normalize):
    """Execute a :class:`ShLowering` in numpy float64 (what the Cell does in MindSpore), for tests.

    >>> y = evaluate_lowering_np(sh_lowering((2, 0), "norm", True), np.array([[0.0, 1.0, 0.0]]), True)
    >>> (y.round(6) + 0.0).tolist()
    [[0.0, 0.0, 1.0, 0.0, 0.0, 1.0]]
    """
    v = np.asarray(x, dtype=np.float64).reshape(-1, 3)
    if normalize:
        v = v / np.sqrt(np.maximum((v * v).sum(-1, keepdims=True), 1e-24))
    feats = monomial_features_np(v, lowering.low_degree)

    def apply(matrix):
        return feats @ matrix

    highs = {}
    if lowering.seed is not None:
        y = apply(lowering.seed)
        for l, (rep, tile, m) in zip(range(LOW_LMAX + 1, 10 ** 9), lowering.steps):
            y = ((y @ rep) * (v @ tile)) @ m
            highs[l] = y
    return np.concatenate([apply(lowering.low[p[1]]) if p[0] == "low" else highs[p[1]] for p in lowering.pieces],
                          axis=1)


__all__ = ["sh_lowering", "ShLowering", "evaluate_lowering_np", "monomials", "monomial_features_np",
           "monomial_gradient", "MonomialGradient", "monomial_gradient_np",
           "component_recursion_matrix", "component_sh_at", "sh_plan", "ShPlan", "spherical_harmonics_np",
           "NORMALIZATIONS", "check_ls"]
