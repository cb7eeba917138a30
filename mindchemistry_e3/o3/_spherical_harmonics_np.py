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
    >>> p.dim, float(p.out_scale[1][0]) ** 2
    (3, 3.0000000000000004)
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


def _fibonacci_directions(k):
    """``k`` unit vectors of a Fibonacci lattice on the sphere, shape (k, 3). For k = 12 their squares and cubes
    span all quadratic and cubic forms (condition numbers 2.9 and 10 on the sphere)."""
    i = np.arange(k) + 0.5
    polar = np.arccos(1 - 2 * i / k)
    azimuth = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)


LOW_LMAX = 3          # degrees <= 3 come from powers of linear forms in one shot
N_DIRECTIONS = 12


class ShLowering(NamedTuple):
    r"""The lowering the MindSpore side executes (every array float64, read-only).

    With :math:`	ilde u = (u, 1)` (``(N, 4)``: the normalized vector and a constant column):

    * ``lift`` ``(4, K+1)`` or None: linear forms :math:`L = 	ilde u\, \mathrm{lift}`, whose column 0 is the
      constant 1 and columns 1..K are :math:`v_i \cdot u`; the features are
      :math:`F = [L, L^2, L^3]` (up to degree ``low_degree``; :math:`F = 	ilde u` when ``lift`` is None),
    * ``low`` ``(F, n_low)``: ``F @ low`` gives every requested output of degree :math:`\le 3` (in the order of
      ``ls``) followed by the seed :math:`Y^3` of the recursion (when ``lmax > 3``),
    * ``steps``: for :math:`l = 3..lmax-1`, ``(rep, tile, m)`` with
      :math:`Y^{l+1} = ((Y^l\, \mathrm{rep}) \odot (	ilde u\, \mathrm{tile}))\, m` (``rep`` and ``tile`` form the
      flattened outer product :math:`Y^l \otimes u` with plain matmuls, ``m`` is the recursion matrix),
    * ``pieces``: the output as a concatenation of ``("low", a, b)`` column ranges of ``F @ low`` and
      ``("high", l)`` recursion results.
    """

    ls: Tuple[int, ...]
    dim: int
    low_degree: int
    lift: object
    low: np.ndarray
    seed: Tuple[int, int]
    steps: Tuple[Tuple[np.ndarray, np.ndarray, np.ndarray], ...]
    pieces: Tuple[tuple, ...]
    radius_matrix: np.ndarray


def _readonly(a):
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=None)
def sh_lowering(ls, normalization):
    r"""The :class:`ShLowering` for degrees ``ls`` (tuple) in ``normalization``; cached.

    Degrees up to 3 use that every form of degree :math:`d \le 3` is a combination of :math:`(v_i\cdot u)^d` over
    12 well-spread directions :math:`v_i`: the coefficients are solved here in float64 (exactly, residual
    ~1e-15) against :func:`spherical_harmonics_np`. Higher degrees follow the CG recursion.

    >>> low = sh_lowering((0, 1, 2, 3), "component")
    >>> low.low.shape, low.pieces
    ((39, 16), (('low', 0, 16),))
    """
    plan = sh_plan(check_ls(ls), normalization)
    ls, lmax = plan.ls, plan.lmax
    low_degree = min(lmax, LOW_LMAX)
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(200, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    pts4 = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)
    if low_degree >= 2:
        lift = np.zeros((4, N_DIRECTIONS + 1))
        lift[3, 0] = 1.0
        lift[:3, 1:] = _fibonacci_directions(N_DIRECTIONS).T
        lin = pts4 @ lift
        feats = [lin ** d for d in range(1, low_degree + 1)]
    else:
        lift = None
        feats = [pts4]
    width = feats[0].shape[1]

    def degree_block(d):  # columns of F holding the forms of degree d (d = 0 -> the constant column)
        if lift is None:
            return (3, 4) if d == 0 else (0, 3)
        if d == 0:
            return (0, 1)
        return ((d - 1) * width + 1, d * width)

    low_targets = [l for l in ls if l <= LOW_LMAX]
    seed = ()
    if lmax > LOW_LMAX:
        seed = (LOW_LMAX,)
    columns = []
    for l in low_targets:
        columns.append((l, False))
    for l in seed:
        columns.append((l, True))
    n_feat = width * len(feats)
    low = np.zeros((n_feat, sum(2 * l + 1 for l, _ in columns)))
    col = 0
    for l, is_seed in columns:
        a, b = degree_block(l)
        block = np.concatenate(feats, axis=1)[:, a:b]
        target = spherical_harmonics_np([l], pts, False, normalization)
        coef, *_ = np.linalg.lstsq(block, target, rcond=None)
        low[a:b, col:col + 2 * l + 1] = coef
        col += 2 * l + 1
    check = np.concatenate(feats, axis=1) @ low
    ref = np.concatenate([spherical_harmonics_np([l], pts, False, normalization) for l, _ in columns], axis=1)
    if np.abs(check - ref).max() > 1e-12:  # pragma: no cover - a bad direction set
        raise AssertionError(f"spherical harmonics lowering is inexact: {np.abs(check - ref).max()}")
    seed_range = (col - 7, col) if seed else (0, 0)

    steps = []
    for l in range(LOW_LMAX, lmax):
        d = 2 * l + 1
        rep = np.kron(np.eye(d), np.ones((1, 3)))           # (d, 3d): column 3j+k <- Y_j
        tile = np.zeros((4, 3 * d))
        tile[:3] = np.kron(np.ones((1, d)), np.eye(3))      # column 3j+k <- u_k
        steps.append((_readonly(rep), _readonly(tile), _readonly(plan.matrices[l - 1])))

    pieces = []
    low_pos = 0
    for l in ls:
        if l <= LOW_LMAX:
            a, b = low_pos, low_pos + 2 * l + 1
            low_pos = b
            if pieces and pieces[-1][0] == "low" and pieces[-1][2] == a:
                pieces[-1] = ("low", pieces[-1][1], b)
            else:
                pieces.append(("low", a, b))
        else:
            pieces.append(("high", l))
    radius = np.zeros((4, 4))
    radius[:3, :3] = 1.0  # (x^2, y^2, z^2, 1) @ radius = (r^2, r^2, r^2, 0)
    return ShLowering(ls=ls, dim=plan.dim, low_degree=low_degree, lift=None if lift is None else _readonly(lift),
                      low=_readonly(low), seed=seed_range, steps=tuple(steps), pieces=tuple(pieces),
                      radius_matrix=_readonly(radius))


def evaluate_lowering_np(lowering, x, normalize):
    """Execute a :class:`ShLowering` in numpy float64 (what the Cell does in MindSpore), for tests.

    >>> y = evaluate_lowering_np(sh_lowering((2, 0), "norm"), np.array([[0.0, 1.0, 0.0]]), True)
    >>> y.round(6).tolist()
    [[0.0, 0.0, 1.0, 0.0, 0.0, 1.0]]
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1, 3)
    x4 = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    if normalize:
        r2 = (x4 * x4) @ lowering.radius_matrix
        big = r2 > 1e-24
        x4 = x4 * np.where(big, 1 / np.sqrt(np.where(big, r2, 1.0)), 1.0)
    if lowering.lift is None:
        feats = x4
    else:
        lin = x4 @ lowering.lift
        feats = np.concatenate([lin ** d for d in range(1, lowering.low_degree + 1)], axis=1)
    low = feats @ lowering.low
    highs = {}
    y = low[:, lowering.seed[0]:lowering.seed[1]]
    for l, (rep, tile, m) in zip(range(LOW_LMAX + 1, 10 ** 9), lowering.steps):
        y = ((y @ rep) * (x4 @ tile)) @ m
        highs[l] = y
    return np.concatenate([low[:, p[1]:p[2]] if p[0] == "low" else highs[p[1]] for p in lowering.pieces], axis=1)


__all__ = ["sh_lowering", "ShLowering", "evaluate_lowering_np", "component_recursion_matrix", "component_sh_at", "sh_plan", "ShPlan", "spherical_harmonics_np",
           "NORMALIZATIONS", "check_ls"]
