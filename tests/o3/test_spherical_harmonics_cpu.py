"""The fused CPU kernels of the spherical harmonics (o3._spherical_harmonics_cpu) against the plain-op Cells they
replace: values, first order (both modes), second order in graph mode (input and weights-only), float32 and
float64, zero rows; when they are chosen; the generated source; the native build (util._native)."""
import os
import warnings

import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3.o3 import SphericalHarmonics
from mindchemistry_e3.o3._spherical_harmonics_cpu import FusedHarmonics, fused_harmonics
from mindchemistry_e3.o3._spherical_harmonics_np import sh_lowering
from mindchemistry_e3.o3._spherical_harmonics_poly import NormalizedPolynomialHarmonics, PolynomialHarmonics
from mindchemistry_e3.util import _native, native_kernels
from tests.o3.test_spherical_harmonics import _ForceLoss, _GradDot, _WeightedSum
from tests.plan_isolation import imports_mindspore

CASES = [((0, 1, 2, 3), True, "component"), ((0, 1, 2, 3), False, "component"), ((2, 1), True, "integral"),
         ((3, 0, 3), False, "norm")]


def _skip_without_compiler():
    if _native._compiler() is None:
        pytest.skip("no C++ compiler on this machine: the plain-op Cells run instead")


def _pair(ls, normalize, normalization, dtype):
    """(fused Cell, plain-op Cell) of the same polynomial."""
    low = sh_lowering(ls, normalization, normalize)
    _skip_without_compiler()
    fused = fused_harmonics(low.low[0], low.low_degree, normalize, dtype)
    assert fused is not None, "a C++ compiler is there, but the kernel was not built (see the warning)"
    plain = (NormalizedPolynomialHarmonics if normalize else PolynomialHarmonics)(low.low[0], low.low_degree, dtype)
    return fused, plain


def _inputs(npdt, n=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x[0] = 0.0  # a padded edge
    x[1] = 1e-13 * x[2]  # below e3nn's clamp
    return x.astype(npdt)


@pytest.mark.parametrize("ls,normalize,normalization", CASES)
@pytest.mark.parametrize("dtype,npdt,tol", [(ms.float64, np.float64, 1e-12), (ms.float32, np.float32, 3e-6)])
def test_values_and_gradient_match_plain_ops(mode, ls, normalize, normalization, dtype, npdt, tol):
    fused, plain = _pair(ls, normalize, normalization, dtype)
    x = ms.Tensor(_inputs(npdt))
    y, y_plain = fused(x).asnumpy(), plain(x).asnumpy()
    assert y.dtype == npdt and y.shape == y_plain.shape
    np.testing.assert_allclose(y, y_plain, rtol=0, atol=tol * max(1.0, np.abs(y_plain).max()))
    w = ms.Tensor(np.random.default_rng(1).normal(size=y.shape).astype(npdt))
    g = ms.grad(_WeightedSum(fused), grad_position=0)(x, w).asnumpy()
    g_plain = ms.grad(_WeightedSum(plain), grad_position=0)(x, w).asnumpy()
    scale = np.maximum(np.abs(g_plain).max(axis=1, keepdims=True), 1.0)  # the tiny row's gradient is ~1e12
    np.testing.assert_array_less(np.abs(g - g_plain) / scale, tol * 10)


@pytest.mark.parametrize("ls,normalize,normalization", CASES[:3])
def test_second_order_matches_plain_ops(graph_mode, ls, normalize, normalization):
    """d/dx (u . d/dx sum(Y w)) and the weights' gradient of a force loss, float64: the kernel's gradient is
    differentiated through the plain-op gradient, so both equal the plain Cell's (checked against finite
    differences in test_spherical_harmonics)."""
    fused, plain = _pair(ls, normalize, normalization, ms.float64)
    x = ms.Tensor(_inputs(np.float64, seed=2))
    rng = np.random.default_rng(3)
    dim = fused.dim
    w, u = ms.Tensor(rng.normal(size=(7, dim))), ms.Tensor(rng.normal(size=(7, 3)))
    h = ms.grad(_GradDot(fused), grad_position=0)(x, w, u).asnumpy()
    h_plain = ms.grad(_GradDot(plain), grad_position=0)(x, w, u).asnumpy()
    scale = np.maximum(np.abs(h_plain).max(axis=1, keepdims=True), 1.0)
    np.testing.assert_array_less(np.abs(h - h_plain) / scale, 1e-11)
    weights = ms.Tensor(rng.normal(size=(dim, 2)))
    gw = ms.grad(_ForceLoss(fused), grad_position=1)(x, weights).asnumpy()
    gw_plain = ms.grad(_ForceLoss(plain), grad_position=1)(x, weights).asnumpy()
    np.testing.assert_allclose(gw, gw_plain, rtol=1e-11, atol=1e-11 * np.abs(gw_plain).max())


def test_spherical_harmonics_chooses_the_kernels():
    """CPU, no compute_dtype, degrees <= 3 beyond 1: fused; native kernels off or a compute_dtype: plain ops."""
    _skip_without_compiler()
    sh = SphericalHarmonics([0, 1, 2, 3], True, "component")
    assert isinstance(sh.polynomial, FusedHarmonics)
    with native_kernels(False):
        assert isinstance(SphericalHarmonics([0, 1, 2, 3], True, "component").polynomial,
                          NormalizedPolynomialHarmonics)
    assert isinstance(SphericalHarmonics([0, 1, 2], False, "component", compute_dtype=ms.float16).polynomial,
                      PolynomialHarmonics)
    assert SphericalHarmonics([0, 1], True, "component").polynomial is None  # degree 1: one MatMul
    assert SphericalHarmonics([0, 1, 2, 3, 4], True, "component").polynomial is None  # the recursion


def test_native_build_is_cached_and_fails_softly(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDCHEMISTRY_E3_KERNEL_DIR", str(tmp_path))
    monkeypatch.setitem(_native._STATE, "warned", False)
    monkeypatch.setattr(_native, "_BUILT", {})
    source = 'extern "C" int answer() { return 42; }\n'
    _skip_without_compiler()
    path = _native.build_library(source, "probe")
    assert os.path.dirname(path) == str(tmp_path) and os.path.basename(path).startswith("probe-")
    stamp = os.stat(path).st_mtime_ns
    monkeypatch.setattr(_native, "_BUILT", {})
    assert _native.build_library(source, "probe") == path and os.stat(path).st_mtime_ns == stamp  # not rebuilt
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(path)]  # no temporary files left
    with native_kernels(False):
        assert _native.build_library(source, "probe") is None
    with pytest.warns(RuntimeWarning, match="native CPU kernels unavailable.*failed"):
        assert _native.build_library("this is not C++", "broken") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per process, not one per Cell
        assert _native.build_library("still not C++", "broken") is None
    monkeypatch.setitem(_native._STATE, "warned", False)
    monkeypatch.setenv("CXX", "no-such-compiler-mindchemistry")
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        assert _native.build_library(source + "// other\n", "probe") is None


def test_source_and_build_modules_import_no_mindspore():
    assert not imports_mindspore("mindchemistry_e3.o3._spherical_harmonics_cpu_np")
    assert not imports_mindspore("mindchemistry_e3.util._native")


def test_source_reads_only_the_nonzero_coefficients():
    """[0, 1, 2, 3] normalized: 28 of the 320 entries of C are nonzero; each appears once in the forward."""
    from mindchemistry_e3.o3._spherical_harmonics_cpu_np import harmonics_source

    low = sh_lowering((0, 1, 2, 3), "component", True)
    src = harmonics_source(low.low[0], low.low_degree, True)
    forward = src[src.index("void forward"):src.index("void vjp")]
    outputs = [line.strip() for line in forward.splitlines() if line.strip().startswith("o[")]
    assert len(outputs) == 16
    assert sum(line.count("T(") for line in outputs) == np.count_nonzero(low.low[0])
    with pytest.raises(ValueError, match="must have 20 rows"):
        harmonics_source(low.low[0][:10], 3, True)
