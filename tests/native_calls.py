"""Test helper: call a generated native kernel directly (ctypes), with MindSpore's AOT signature."""
import ctypes

import numpy as np

import pytest

from mindchemistry_e3.util import _native


def skip_without_compiler():
    """Skip the calling test on a machine without a C++ compiler (the plain-op Cells run there instead)."""
    if _native._compiler() is None:  # pylint: disable=protected-access
        pytest.skip("no C++ compiler on this machine: the plain-op Cells run instead")


def load(source, name):
    """The compiled ``source`` as a ctypes library (the test fails if a compiler exists but the build does not)."""
    skip_without_compiler()
    path = _native.build_library(source, name)
    assert path is not None, "a C++ compiler is there, but the kernel was not built (see the warning)"
    return ctypes.CDLL(path)


def call(lib, name, arrays):
    """``lib.name`` on numpy ``arrays`` (inputs then outputs, C-contiguous; each array's dtype is passed by its
    MindSpore name, e.g. ``float32`` or ``int32``); returns the kernel's return code (0: done)."""
    n = len(arrays)
    shapes = [(ctypes.c_int64 * a.ndim)(*a.shape) for a in arrays]
    return getattr(lib, name)(n, (ctypes.c_void_p * n)(*[a.ctypes.data for a in arrays]),
                              (ctypes.c_int * n)(*[a.ndim for a in arrays]),
                              (ctypes.POINTER(ctypes.c_int64) * n)(*[ctypes.cast(s, ctypes.POINTER(ctypes.c_int64))
                                                                     for s in shapes]),
                              (ctypes.c_char_p * n)(*[a.dtype.name.encode() for a in arrays]), None, None)


def check_bilinear(lib, name, f, a, b, g, rng, atol=1e-13, rtol=1e-12):
    """Check the kernels ``{name}_forward``, ``{name}_vjp`` and ``{name}_vjp2`` of a bilinear map against its numpy
    ``f(a, b)`` at float64 ``a``, ``b`` and an output cotangent ``g``: the values, the vjp by the identity
    ``<da, d_a> = <g, f(d_a, b)>`` (and for ``b``), and the second order, the gradient of
    ``S = <a_a, da> + <a_b, db> = <g, f(a_a, b)> + <g, f(a, a_b)>``."""
    out = np.empty_like(g)
    assert call(lib, f"{name}_forward", [a, b, out]) == 0
    np.testing.assert_allclose(out, f(a, b), rtol=0, atol=atol)
    da, db = np.empty_like(a), np.empty_like(b)
    assert call(lib, f"{name}_vjp", [a, b, g, da, db]) == 0
    d_a, d_b = rng.normal(size=a.shape), rng.normal(size=b.shape)
    np.testing.assert_allclose((da * d_a).sum(), (g * f(d_a, b)).sum(), rtol=rtol)
    np.testing.assert_allclose((db * d_b).sum(), (g * f(a, d_b)).sum(), rtol=rtol)
    a_a, a_b = rng.normal(size=a.shape), rng.normal(size=b.shape)
    ga, gb, gg = np.empty_like(a), np.empty_like(b), np.empty_like(g)
    assert call(lib, f"{name}_vjp2", [a, b, g, a_a, a_b, ga, gb, gg]) == 0
    np.testing.assert_allclose((ga * d_a).sum(), (g * f(d_a, a_b)).sum(), rtol=rtol)
    np.testing.assert_allclose((gb * d_b).sum(), (g * f(a_a, d_b)).sum(), rtol=rtol)
    np.testing.assert_allclose(gg, f(a_a, b) + f(a, a_b), rtol=0, atol=atol)
