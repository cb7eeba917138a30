"""Test helper: call a generated native kernel directly (ctypes), with MindSpore's AOT signature."""
import ctypes

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
