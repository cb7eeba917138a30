"""Test helpers for tests/nn (numpy only): representation matrices of Irreps and finite differences."""
import numpy as np
import scipy.linalg

from mindchemistry_e3.o3._irreps import Irreps
from mindchemistry_e3.o3._so3_np import wigner_D


def irreps_D(irreps, alpha, beta, gamma, parity=False):
    """Block-diagonal D(R) of ``irreps`` in numpy float64 (times the parity when ``parity``)."""
    blocks = []
    for mul, ir in Irreps(irreps):
        d = wigner_D(ir.l, alpha, beta, gamma) * (ir.p if parity else 1)
        blocks += [d] * mul
    if not blocks:
        return np.zeros((0, 0))
    return scipy.linalg.block_diag(*blocks)


def random_rotations(seed=0, n=2):
    """``n`` random (alpha, beta, gamma, parity) tuples, with and without inversion."""
    rng = np.random.default_rng(seed)
    return [(*rng.uniform(0, 2 * np.pi, 3), bool(k % 2)) for k in range(n)]


def finite_difference(f, x, eps=1e-6):
    """Central differences of the scalar ``f`` (numpy -> float) at ``x``."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat = g.reshape(-1)
    for i in range(x.size):
        xp = x.copy().reshape(-1)
        xm = x.copy().reshape(-1)
        xp[i] += eps
        xm[i] -= eps
        flat[i] = (f(xp.reshape(x.shape)) - f(xm.reshape(x.shape))) / (2 * eps)
    return g


def batched_finite_difference(f, x, eps=1e-6):
    """Central differences of the scalar-per-sample map ``f`` (numpy ``[n, d] -> [n]``) at the rows of ``x``.

    All ``2 d`` perturbations of every row go through ``f`` in one call (for layers acting sample by sample).
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    eye = np.eye(d) * eps
    xp = (x[:, None, :] + eye[None]).reshape(n * d, d)
    xm = (x[:, None, :] - eye[None]).reshape(n * d, d)
    values = f(np.concatenate([xp, xm], 0))
    return ((values[:n * d] - values[n * d:]) / (2 * eps)).reshape(n, d)
