"""The fused CPU kernels of the Gate (nn._gate_cpu) against the plain-op Gate: values and first order (both modes),
second order in graph mode (against the plain ops and finite differences), float32 and float64, both input
layouts; when they apply; the generated source."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3 import nn as e3nn
from mindchemistry_e3.nn._gate_cpu_np import gate_source
from mindchemistry_e3.util import native_kernels
from tests import native_calls
from tests.o3.test_spherical_harmonics import _GradDot, _WeightedSum
from tests.plan_isolation import imports_mindspore

# (irreps_scalars, act_scalars, irreps_gates, act_gates, irreps_gated): NequIP's gate (silu / tanh by parity, a run
# of scalars and gates sharing silu), unactivated scalars and normalised sigmoid gates, gated l = 2
CASES = [("4x0e + 2x0o", [e3nn.silu, ops.tanh], "3x0e + 1x0o", [e3nn.silu, ops.tanh], "2x1o + 1x1e + 1x2e"),
         ("3x0e", [None], "2x0e", [ops.sigmoid], "1x1o + 1x2o")]


def _twins(case, dtype):
    native_calls.skip_without_compiler()
    fused = e3nn.Gate(*case, dtype=dtype)
    with native_kernels(False):
        plain = e3nn.Gate(*case, dtype=dtype)
    assert fused.native is not None and plain.native is None
    return fused, plain


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype,npdt,tol", [(ms.float64, np.float64, 1e-13), (ms.float32, np.float32, 1e-5)])
def test_values_and_gradient_match_plain_ops(mode, case, dtype, npdt, tol):
    """Against the plain-op Gate in float64 (MindSpore's float32 tanh on CPU is off by up to 1e-4)."""
    fused, _ = _twins(case, dtype)
    _, plain = _twins(case, ms.float64)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(2, 19, fused.irreps_in.dim)) * 2).astype(npdt)  # lead dims, 19 rows
    w = rng.normal(size=(2, 19, fused.irreps_out.dim)).astype(npdt)
    x64, w64 = ms.Tensor(x.astype(np.float64)), ms.Tensor(w.astype(np.float64))
    y = fused(ms.Tensor(x)).asnumpy()
    assert y.dtype == npdt
    np.testing.assert_allclose(y, plain(x64).asnumpy(), rtol=tol, atol=tol)
    g = ms.grad(_WeightedSum(fused), grad_position=0)(ms.Tensor(x), ms.Tensor(w)).asnumpy()
    np.testing.assert_allclose(g, ms.grad(_WeightedSum(plain), grad_position=0)(x64, w64).asnumpy(), rtol=tol,
                               atol=tol)


class _InLayout(nn.Cell):
    def __init__(self, gate):
        super().__init__()
        self.gate = gate

    def construct(self, x):
        return self.gate(x, True)


@pytest.mark.parametrize("case", CASES)
def test_second_order_matches_plain_ops_and_finite_differences(graph_mode, case):
    """d/d(x, w, u) of sum(u * d/dx sum(gate(x) w)), float64, on the working layout (in_layout=True, as NequIP's
    stacked tail feeds it); the x part also against central differences of the first-order gradient."""
    fused, plain = _twins(case, ms.float64)
    rng = np.random.default_rng(1)
    x = ms.Tensor(rng.normal(size=(7, fused.irreps_in.dim)) * 2)
    w, u = ms.Tensor(rng.normal(size=(7, fused.irreps_out.dim))), ms.Tensor(rng.normal(size=x.shape))
    got = ms.grad(_GradDot(_InLayout(fused)), grad_position=(0, 1, 2))(x, w, u)
    ref = ms.grad(_GradDot(_InLayout(plain)), grad_position=(0, 1, 2))(x, w, u)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-12, atol=1e-12)
    d = rng.normal(size=x.shape)
    first = ms.grad(_WeightedSum(_InLayout(fused)), grad_position=0)
    eps = 1e-6
    fd = ((first(ms.Tensor(x.asnumpy() + eps * d), w).asnumpy() - first(ms.Tensor(x.asnumpy() - eps * d), w)
           .asnumpy()) * u.asnumpy()).sum() / (2 * eps)
    np.testing.assert_allclose((got[0].asnumpy() * d).sum(), fd, rtol=1e-7)


def test_when_the_kernels_apply():
    native_calls.skip_without_compiler()
    assert e3nn.Gate("2x0e", [ops.abs], "0e", [ops.sigmoid], "1o").native is None  # abs: no kernel
    with native_kernels(False):
        assert e3nn.Gate(*CASES[0]).native is None
    gate = e3nn.Gate(*CASES[1])
    assert gate(ms.Tensor(np.zeros((0, gate.irreps_in.dim), np.float32))).shape == (0, gate.irreps_out.dim)


def test_source():
    assert not imports_mindspore("mindchemistry_e3.nn._gate_cpu_np")
    with pytest.raises(ValueError, match="no native kernel"):
        gate_source(3, [(0, 2, "relu", 1.0)], [0, 1], 2)
    with pytest.raises(ValueError, match="do not cover"):
        gate_source(3, [(1, 2, "silu", 1.0)], [0, 1], 2)
