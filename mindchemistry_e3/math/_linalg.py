r"""Small linear-algebra helpers of ``e3nn.math`` in numpy float64 (plan-time code, no MindSpore).

* :func:`direct_sum` -- block-diagonal matrix :math:`A_1 \oplus A_2 \oplus \dots` (batched over leading axes),
* :func:`orthonormalize` -- Gram-Schmidt of the rows, with the change of basis :math:`A`, ``final = A @ original``,
* :func:`complete_basis` -- orthonormal rows spanning the orthogonal complement of the given rows.

Rows are sign-fixed like e3nn: the first non-zero entry (after zeroing entries below ``eps``) is positive.
Like e3nn's, they take and return Tensors: MindSpore Tensors in give MindSpore Tensors out (of the inputs' dtype,
computed in float64 numpy on the host, so call them at construction, not in ``construct``); numpy arrays in give
numpy arrays out.
"""
import functools

import numpy as np


def _as_array(a, name):
    if hasattr(a, "asnumpy"):
        a = a.asnumpy()
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a


def _tensors_in_tensors_out(fn):
    """Run ``fn`` on numpy; if any argument was a MindSpore Tensor, return Tensors of that Tensor's dtype."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import mindspore as ms  # pylint: disable=import-outside-toplevel

        dtypes = [a.dtype for a in args if isinstance(a, ms.Tensor)]
        out = fn(*args, **kwargs)
        if not dtypes:
            return out
        if isinstance(out, tuple):
            return tuple(ms.Tensor(o).astype(dtypes[0]) for o in out)
        return ms.Tensor(out).astype(dtypes[0])

    return wrapper


@_tensors_in_tensors_out
def direct_sum(*matrices):
    r"""Direct sum (block-diagonal stacking) of matrices with equal leading (batch) axes.

    >>> direct_sum(np.ones((1, 1)), 2 * np.ones((2, 1))).tolist()
    [[1.0, 0.0], [0.0, 2.0], [0.0, 2.0]]
    >>> import mindspore as ms
    >>> direct_sum(ms.Tensor(np.ones((1, 1)), ms.float32), ms.Tensor(np.ones((1, 1)), ms.float32)).dtype
    mindspore.float32
    """
    if not matrices:
        raise ValueError("direct_sum needs at least one matrix")
    mats = [_as_array(m, "matrices") for m in matrices]
    front = mats[0].shape[:-2]
    for m in mats:
        if m.ndim < 2 or m.shape[:-2] != front:
            raise ValueError(f"direct_sum: every matrix needs shape {front} + (m, n), got {m.shape}")
    dtype = np.result_type(*mats)
    out = np.zeros(front + (sum(m.shape[-2] for m in mats), sum(m.shape[-1] for m in mats)), dtype=dtype)
    i = j = 0
    for m in mats:
        out[..., i:i + m.shape[-2], j:j + m.shape[-1]] = m
        i += m.shape[-2]
        j += m.shape[-1]
    return out


def _fix_sign(v, eps):
    v = np.where(np.abs(v) < eps, 0.0, v)
    nz = np.flatnonzero(v)
    return v * np.sign(v[nz[0]]) if len(nz) else v


@_tensors_in_tensors_out
def orthonormalize(original, eps=1e-9):
    r"""Orthonormalize the rows of ``original`` (shape ``(n, d)``) by Gram-Schmidt, dropping dependent rows.

    Returns:
        ``(final, matrix)`` with ``final`` of shape ``(k, d)`` (orthonormal rows) and ``matrix`` of shape
        ``(k, n)`` such that ``final = matrix @ original``.

    >>> final, matrix = orthonormalize(np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 1.0]]))
    >>> final.shape, bool(np.allclose(matrix @ np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 1.0]]), final))
    ((2, 2), True)
    """
    original = _as_array(original, "original").astype(np.float64)
    if original.ndim != 2:
        raise ValueError(f"orthonormalize needs a 2-d array (n, d), got shape {original.shape}")
    n, dim = original.shape
    final, matrix = [], []
    for i, x in enumerate(original):
        cx = np.zeros(n)
        cx[i] = 1.0
        for y, cy in zip(final, matrix):
            c = x @ y
            x = x - c * y
            cx = cx - c * cy
        norm = np.linalg.norm(x)
        if norm > 2 * eps:
            x, cx = x / norm, cx / norm
            x = np.where(np.abs(x) < eps, 0.0, x)
            cx = np.where(np.abs(cx) < eps, 0.0, cx)
            s = np.sign(x[np.flatnonzero(x)[0]])
            final.append(s * x)
            matrix.append(s * cx)
    final = np.stack(final) if final else np.zeros((0, dim))
    matrix = np.stack(matrix) if matrix else np.zeros((0, n))
    return final, matrix


@_tensors_in_tensors_out
def complete_basis(vecs, eps=1e-9):
    r"""Orthonormal rows completing the span of the rows of ``vecs`` (shape ``(n, d)``) to the whole space.

    >>> complete_basis(np.array([[1.0, 0.0, 0.0]])).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    vecs = _as_array(vecs, "vecs").astype(np.float64)
    if vecs.ndim != 2:
        raise ValueError(f"complete_basis needs a 2-d array (n, d), got shape {vecs.shape}")
    dim = vecs.shape[1]
    base = [v / np.linalg.norm(v) for v in vecs]
    expand = []
    for x in np.eye(dim):
        for y in base + expand:
            x = x - (x @ y) * y
        norm = np.linalg.norm(x)
        if norm > 2 * eps:
            expand.append(_fix_sign(x / norm, eps))
    return np.stack(expand) if expand else np.zeros((0, dim))


__all__ = ["direct_sum", "orthonormalize", "complete_basis"]
