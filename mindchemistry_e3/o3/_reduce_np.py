r"""Plan of :class:`ReducedTensorProducts` in numpy float64 (no MindSpore): the change of basis :math:`Q`.

A formula such as ``"ijk=jik=ikj"`` names the indices of a tensor :math:`T_{ijk}` and the permutations (with an
optional sign, ``"ij=-ji"``) that leave it unchanged. The plan finds the irreducible decomposition of the
subspace of such tensors, as e3nn 0.6.0 does, with the same basis, order and signs:

1. **Symmetry group.** The permutations of the formula are closed under inverse and composition
   (:func:`germinate_formulas`).
2. **Permutation basis** :math:`P` (rows span the symmetric tensors): one orbit of index tuples per row,
   with entries :math:`\pm 1/\sqrt{|orbit|}` (:func:`reduce_permutation`).
3. **Coupling paths.** Coupling the inputs one after the other with Wigner 3j symbols (component
   normalisation) gives, for every irrep :math:`L`, tensors :math:`R^L_u` (:func:`wigner_nj`), sorted by irrep.
4. **Intersection.** For each :math:`L`, the coefficients :math:`x` with :math:`\sum_u x_u R^L_u` in the span of
   :math:`P` form the null space of the Gram matrix of :math:`[R^L; -P]`; its projector, orthonormalised row by
   row (Gram-Schmidt, sign of the first non-zero entry positive, :func:`orthonormalize`), gives one output irrep
   per row, rescaled so that :math:`\sum Q^2 = 2L+1`.

The forward pass of the layer is :math:`y_k = \sum Q_{k, i j \dots} x_i y_j \dots`: one matrix product with the
flattened outer product of the inputs.

>>> plan = reduced_tensor_products_plan("ij=ji", i="1o")
>>> plan.irreps_out, plan.change_of_basis.shape
('1x0e+1x2e', (6, 3, 3))
"""
import functools
import itertools
from collections import namedtuple

import numpy as np

from ._irreps import Irrep, Irreps
from ._so3_np import wigner_3j

RTPPlan = namedtuple("RTPPlan", "indices irreps_in irreps_out change_of_basis")
RTPPlan.__doc__ = """Plan of a reduced tensor product: index letters, input irreps (one per letter, as strings),
output irreps (string) and the change of basis ``(irreps_out.dim, *dims_in)`` (float64, read-only)."""


def _compose(p1, p2):
    return tuple(p1[p2[i]] for i in range(len(p1)))


def _inverse(p):
    return tuple(p.index(i) for i in range(len(p)))


def germinate_formulas(formula):
    r"""Parse ``formula`` into its first index string and the group of signed permutations it generates.

    Returns ``(f0, group)`` with ``group`` a frozenset of ``(sign, permutation)``; a permutation ``p`` maps the
    index string ``f0`` onto ``"".join(f0[i] for i in p)``.

    >>> f0, group = germinate_formulas("ij=-ji")
    >>> f0, sorted(group)
    ('ij', [(-1, (1, 0)), (1, (0, 1))])
    """
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a string such as 'ij=ji', got {formula!r}")
    parts = formula.split("=")
    signed = []
    for part in parts:
        sign = -1 if part.startswith("-") else 1
        body = part[1:] if part.startswith("-") else part
        if "-" in body:
            raise ValueError(f"formula {formula!r}: a '-' may only start a term, got term {part!r}")
        signed.append((sign, body))
    s0, f0 = signed[0]
    if s0 != 1:
        raise ValueError(f"formula {formula!r}: the first term must not carry a sign")
    if len(f0) == 0:
        raise ValueError(f"formula {formula!r}: the first term names no index")
    if len(set(f0)) != len(f0):
        raise ValueError(f"formula {formula!r}: index repeated in {f0!r} (each index appears once per term)")
    for _, f in signed:
        if len(f) != len(f0):
            raise ValueError(f"formula {formula!r}: {f0!r} and {f!r} don't have the same number of indices")
        if len(set(f)) != len(f) or set(f) != set(f0):
            raise ValueError(f"formula {formula!r}: {f!r} is not a permutation of {f0!r}")

    group = {(s, tuple(f.index(i) for i in f0)) for s, f in signed}
    while True:  # close under inverse and composition
        n = len(group)
        group |= {(s, _inverse(p)) for s, p in group}
        group |= {(s1 * s2, _compose(p1, p2)) for s1, p1 in group for s2, p2 in group}
        if len(group) == n:
            break
    return f0, frozenset(group)


def _propagate(f0, group, values, what):
    """Copy per-index values (irreps or dims) along the permutations of the group; reject conflicts."""
    values = dict(values)
    for _, p in sorted(group):
        f = "".join(f0[i] for i in p)
        for i, j in zip(f0, f):
            if i in values and j in values and values[i] != values[j]:
                raise ValueError(
                    f"{what} of indices {i!r} and {j!r} should be the same (they are exchanged by the formula), "
                    f"got {values[i]} and {values[j]}"
                )
            if i in values:
                values[j] = values[i]
            if j in values:
                values[i] = values[j]
    return values


def reduce_permutation(f0, group, dims):
    r"""Orthonormal basis of the tensors of shape ``dims`` (one per letter of ``f0``) invariant under ``group``.

    Returns ``(P, orbits)``: ``P`` of shape ``(d_sym, *dims)`` (float64) and, for each row, the signed index
    tuples it spans.

    >>> P, _ = reduce_permutation(*germinate_formulas("ij=-ji"), {"i": 2})
    >>> P.reshape(1, 4) * 2 ** 0.5
    array([[ 0., -1.,  1.,  0.]])
    """
    dims = _propagate(f0, group, dims, "dimensions")
    for i in f0:
        if i not in dims:
            raise ValueError(f"index {i!r} has no dimension associated to it")
    dims = [dims[i] for i in f0]

    orbits = set()
    for x in itertools.product(*(range(d) for d in dims)):
        xs = frozenset((s, tuple(x[i] for i in p)) for s, p in group)
        if (-1, x) not in xs:  # T[x] = -T[x] would force 0
            orbits.add(frozenset({xs, frozenset((-s, y) for s, y in xs)}))
    orbits = sorted(sorted(sorted(xs) for xs in orbit) for orbit in orbits)

    strides = np.cumprod([1] + dims[::-1])[:-1][::-1]
    out = np.zeros((len(orbits), int(np.prod(dims))))
    chosen = []
    for row, orbit in enumerate(orbits):
        xs = max(orbit, key=lambda sx: sum(s for s, _ in sx))
        chosen.append(xs)
        for s, e in xs:
            out[row, int(np.dot(e, strides))] = s / len(xs) ** 0.5
    return out.reshape(len(orbits), *dims), chosen


def wigner_nj(irreps_list, filter_ir_mid=None):
    r"""All couplings of the inputs ``irreps_list[0] x irreps_list[1] x ...`` (left to right, component
    normalisation), as a list of ``(ir, C)`` with ``C`` of shape ``(ir.dim, *dims)``, sorted by ``ir``
    (stable, as e3nn's ``_wigner_nj``).

    >>> [str(ir) for ir, _ in wigner_nj([Irreps("1o"), Irreps("1o")])]
    ['0e', '1e', '2e']
    """
    irreps_list = [Irreps(irreps) for irreps in irreps_list]
    if len(irreps_list) == 1:
        (irreps,) = irreps_list
        eye = np.eye(irreps.dim)
        out, start = [], 0
        for mul, ir in irreps:
            for _ in range(mul):
                out.append((ir, eye[start:start + ir.dim]))
                start += ir.dim
        return out

    *left, right = irreps_list
    left_dims = [irreps.dim for irreps in left]
    out = []
    for ir_left, c_left in wigner_nj(left, filter_ir_mid):
        start = 0
        for mul, ir in right:
            for ir_out in ir_left * ir:
                if filter_ir_mid is not None and ir_out not in filter_ir_mid:
                    continue
                w = wigner_3j(ir_out.l, ir_left.l, ir.l) * ir_out.dim ** 0.5  # (out, left, right)
                c = np.einsum("jk,ijl->ikl", c_left.reshape(ir_left.dim, -1), w)
                c = c.reshape(ir_out.dim, *left_dims, ir.dim)
                for u in range(mul):
                    e = np.zeros((ir_out.dim, *left_dims, right.dim))
                    e[..., start + u * ir.dim:start + (u + 1) * ir.dim] = c
                    out.append((ir_out, e))
            start += mul * ir.dim
    return sorted(out, key=lambda item: item[0])


def orthonormalize(vectors, eps=1e-9):
    r"""Gram-Schmidt on the rows of ``vectors`` as e3nn does it: entries below ``eps`` are zeroed and each kept
    vector is signed so that its first non-zero entry is positive. Returns ``(basis, A)`` with ``basis = A @ vectors``.

    >>> b, _ = orthonormalize(np.array([[1.0, 1.0], [2.0, 2.0], [0.0, -1.0]]))
    >>> np.round(b * 2 ** 0.5, 12)
    array([[ 1.,  1.],
           [ 1., -1.]])
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    n, dim = vectors.shape
    basis, coeffs = [], []
    for i in range(n):
        x = vectors[i].copy()
        cx = np.zeros(n)
        cx[i] = 1.0
        for y, cy in zip(basis, coeffs):
            c = np.dot(x, y)
            x = x - c * y
            cx = cx - c * cy
        norm = np.linalg.norm(x)
        if norm > 2 * eps:
            x = x / norm
            cx = cx / norm
            x[np.abs(x) < eps] = 0.0
            cx[np.abs(cx) < eps] = 0.0
            sign = np.sign(x[np.flatnonzero(x)[0]])
            basis.append(sign * x)
            coeffs.append(sign * cx)
    if not basis:
        return np.zeros((0, dim)), np.zeros((0, n))
    return np.stack(basis), np.stack(coeffs)


def _irreps_key(irreps):
    return tuple(sorted((k, str(Irreps(v))) for k, v in irreps.items()))


def reduced_tensor_products_plan(formula, filter_ir_out=None, filter_ir_mid=None, eps=1e-9, **irreps):
    r"""Irreps and change of basis of the reduced tensor product of ``formula`` (see the module docstring).

    ``irreps`` gives the irreps of each index letter (those fixed by the symmetries may be left out).
    Cached: the result is shared and read-only.

    >>> plan = reduced_tensor_products_plan("ij=-ji", i="1o")
    >>> plan.irreps_in, plan.irreps_out
    (('1x1o', '1x1o'), '1x1e')
    """
    filter_out = None if filter_ir_out is None else tuple(_to_irreps_list(filter_ir_out, "filter_ir_out"))
    filter_mid = None if filter_ir_mid is None else tuple(_to_irreps_list(filter_ir_mid, "filter_ir_mid"))
    for key in irreps:
        if not isinstance(key, str) or len(key) != 1:
            raise ValueError(f"got an unexpected keyword argument {key!r} (index names are single letters)")
    try:
        irreps = {k: Irreps(v) for k, v in irreps.items()}
    except ValueError as err:
        raise ValueError(f"formula {formula!r}: invalid irreps {irreps}: {err}") from None
    return _plan_cached(formula, filter_out, filter_mid, float(eps), _irreps_key(irreps))


def _to_irreps_list(irs, name):
    try:
        return [Irrep(ir) for ir in irs]
    except (ValueError, TypeError):
        raise ValueError(f"{name} (={irs}) must be an iterable of Irrep") from None


@functools.lru_cache(maxsize=None)
def _plan_cached(formula, filter_out, filter_mid, eps, irreps_key):
    f0, group = germinate_formulas(formula)
    irreps = _propagate(f0, group, {k: Irreps(v) for k, v in irreps_key}, "irreps")
    for i in f0:
        if i not in irreps:
            raise ValueError(f"formula {formula!r}: index {i!r} has no irreps associated to it")
    for i in irreps:
        if i not in f0:
            raise ValueError(f"formula {formula!r}: index {i!r} has irreps but does not appear in the formula")
    irreps_in = [irreps[i] for i in f0]
    if any(irr.dim == 0 for irr in irreps_in):
        raise ValueError(f"formula {formula!r}: every index needs irreps of positive dimension, got {irreps_in}")

    perm_basis, _ = reduce_permutation(f0, group, {i: irr.dim for i, irr in irreps.items()})
    if perm_basis.shape[0] == 0:
        raise ValueError(f"formula {formula!r}: the index symmetries admit only the zero tensor")
    p = perm_basis.reshape(perm_basis.shape[0], -1)  # (a, omega)
    pp = p @ p.T

    by_ir = {}
    for ir, c in wigner_nj(irreps_in, None if filter_mid is None else list(filter_mid)):
        if filter_out is None or ir in filter_out:
            by_ir.setdefault(ir, []).append(c)

    blocks, irreps_out = [], []
    for ir, cs in by_ir.items():
        mul = len(cs)
        base = np.stack(cs)  # (u, ir.dim, *dims)
        r0 = base.reshape(mul, ir.dim, -1)[:, 0]  # first component suffices (equivariance)
        rr = r0 @ r0.T
        rp = r0 @ p.T
        gram = np.block([[rr, -rp], [-rp.T, pp]])
        w, v = np.linalg.eigh(gram)
        x = v[:, w < eps][:mul].T  # (solutions, u)
        proj = x.T @ x
        sol, _ = orthonormalize(proj, eps)
        for coeffs in sol:
            c = np.einsum("u,u...->...", coeffs, base)
            c = c * (ir.dim / np.sum(c ** 2)) ** 0.5
            blocks.append(c)
            irreps_out.append((1, ir))

    if not blocks:
        raise ValueError(
            f"formula {formula!r} with irreps {dict((k, str(v)) for k, v in irreps.items())}: no irrep survives "
            "(the symmetries admit only the zero tensor, or the filters removed everything)"
        )
    q = np.concatenate(blocks, axis=0)
    q.setflags(write=False)
    return RTPPlan(f0, tuple(str(irr) for irr in irreps_in), str(Irreps(irreps_out).simplify()), q)
