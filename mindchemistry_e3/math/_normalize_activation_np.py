r"""numpy side of :class:`normalize2mom` (no MindSpore): the exact sample e3nn uses and the second moment.

e3nn estimates :math:`c_f = \langle f(z)^2 \rangle^{-1/2}` by Monte Carlo over ``z = torch.randn(1_000_000)``
drawn in float64 on CPU from a generator seeded with 0. That stream is reproduced here without torch (the
uniforms bit for bit, the normals to an ulp of the platform's libm): MT19937 seeded with ``init_genrand(seed)``; each uniform double takes two consecutive 32-bit outputs
(high word first) and keeps the low 53 bits of ``hi << 32 | lo`` times :math:`2^{-53}`; normals come from
Box-Muller on blocks of 16 uniforms, :math:`z_j = r_j \cos(2\pi u_{j+8})`, :math:`z_{j+8} = r_j \sin(2\pi
u_{j+8})` with :math:`r_j = \sqrt{-2 \ln(1 - u_j)}`, :math:`j = 0..7`.

>>> z = torch_randn_float64(16)
>>> z.shape, z.dtype
((16,), dtype('float64'))
"""
import functools

import numpy as np

SAMPLE_SIZE = 1_000_000


@functools.lru_cache(maxsize=4)
def _randn_cached(n, seed):
    if n % 16 != 0 or n <= 0:
        raise ValueError(f"torch_randn_float64 reproduces torch's vectorised path only: n must be a positive "
                         f"multiple of 16, got {n}")
    gen = np.random.MT19937(0)
    gen._legacy_seeding(seed)  # init_genrand(seed), as torch's CPU generator
    raw = gen.random_raw(2 * n).astype(np.uint64)
    bits = ((raw[0::2] << np.uint64(32)) | raw[1::2]) & np.uint64(2 ** 53 - 1)
    u = (bits.astype(np.float64) * 2.0 ** -53).reshape(-1, 16)
    radius = np.sqrt(-2.0 * np.log(1.0 - u[:, :8]))
    angle = 2.0 * np.pi * u[:, 8:]
    z = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1).reshape(-1)
    z.setflags(write=False)
    return z


def torch_randn_float64(n=SAMPLE_SIZE, seed=0):
    """``torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)`` in numpy (n % 16 == 0)."""
    return _randn_cached(int(n), int(seed))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(0.0, x)


NUMPY_ACTIVATIONS = {
    "identity": lambda x: x,
    "silu": lambda x: x * _sigmoid(x),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "abs": np.abs,
    "relu": lambda x: np.maximum(x, 0.0),
    "softplus": _softplus,
    "ssp": lambda x: _softplus(x) - np.log(2.0),
    "square": np.square,
    "sin": np.sin,
    "cos": np.cos,
    "exp": np.exp,
}


def moment_np(f, n, seed=0):
    r""":math:`\langle f(z)^n \rangle` over e3nn's standard-normal sample, in float64 (``f`` maps numpy to numpy).

    >>> round(moment_np(lambda x: x, 2), 4)
    0.9978
    """
    y = np.asarray(f(torch_randn_float64(SAMPLE_SIZE, seed)), dtype=np.float64)
    return float(np.mean(y ** n))


@functools.lru_cache(maxsize=None)
def second_moment_constant(name):
    r""":math:`\langle f(z)^2 \rangle^{-1/2}` for a named activation of :data:`NUMPY_ACTIVATIONS` (cached).

    >>> round(second_moment_constant("silu"), 4)
    1.6792
    """
    if name not in NUMPY_ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(NUMPY_ACTIVATIONS)}")
    return moment_np(NUMPY_ACTIVATIONS[name], 2) ** -0.5


__all__ = ["torch_randn_float64", "moment_np", "second_moment_constant", "NUMPY_ACTIVATIONS", "SAMPLE_SIZE"]
