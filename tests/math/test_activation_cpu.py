"""The fused CPU kernels of scaled activations (math._activation_cpu) against the plain ops they replace: values and
first order (both modes), second order in graph mode (against the plain ops and finite differences), float32 and
float64; where they are used (normalize2mom, FullyConnectedNet, Gate); the generated exponential's accuracy."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3 import nn as e3nn
from mindchemistry_e3.math import normalize2mom
from mindchemistry_e3.math._activation_cpu import fused_activation
from mindchemistry_e3.math._activation_cpu_np import NATIVE_ACTIVATIONS, activation_source
from mindchemistry_e3.util import native_kernels
from tests import native_calls
from tests.o3.test_spherical_harmonics import _GradDot, _WeightedSum
from tests.plan_isolation import imports_mindspore

FUNCTIONS = {"silu": e3nn.silu, "tanh": ops.tanh, "sigmoid": ops.sigmoid}


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


#: f and f' in numpy (float64)
NUMPY = {"silu": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
         "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
         "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x)))}


class _Plain(nn.Cell):
    def __init__(self, f, scale, dtype):
        super().__init__()
        self.f = f
        self.scale = ms.Tensor(scale, dtype)

    def construct(self, x):
        return self.f(x) * self.scale


def _pair(name, scale, dtype=ms.float64):
    native_calls.skip_without_compiler()
    fused = fused_activation(FUNCTIONS[name], scale)
    assert fused is not None, "a C++ compiler is there, but the kernel was not built (see the warning)"
    return fused, _Plain(FUNCTIONS[name], scale, dtype)


def _inputs(npdt, shape=(7, 5), seed=0):
    x = np.random.default_rng(seed).normal(size=shape) * 4
    x.flat[0] = 0.0
    x.flat[1] = 30.0  # 1 - sigmoid(x) below float32's epsilon
    x.flat[2] = -30.0
    return x.astype(npdt)


@pytest.mark.parametrize("name", NATIVE_ACTIVATIONS)
@pytest.mark.parametrize("dtype,npdt,tol", [(ms.float64, np.float64, 1e-14), (ms.float32, np.float32, 1e-6)])
def test_values_and_gradient(mode, name, dtype, npdt, tol):
    """c f(x) and g c f'(x) against numpy in float64 (MindSpore's own float32 tanh is off by up to 1e-4 on CPU, so
    the plain ops are the reference in float64 only, below)."""
    fused, _ = _pair(name, 1.7, dtype)
    x = _inputs(npdt)
    f, f1 = NUMPY[name]
    y = fused(ms.Tensor(x)).asnumpy()
    assert y.dtype == npdt and y.shape == (7, 5)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, 1.7 * f(x64), rtol=tol, atol=tol)
    w = np.random.default_rng(1).normal(size=(7, 5)).astype(npdt)
    g = ms.grad(_WeightedSum(fused), grad_position=0)(ms.Tensor(x), ms.Tensor(w)).asnumpy()
    np.testing.assert_allclose(g, 1.7 * w.astype(np.float64) * f1(x64), rtol=tol * 4, atol=tol * 4)


@pytest.mark.parametrize("name", NATIVE_ACTIVATIONS)
def test_second_order_matches_plain_ops_and_finite_differences(graph_mode, name):
    """d/d(x, w, u) of sum(u * d/dx sum(f(x) w)), float64: the act_d2 kernel against the plain ops' autodiff, and
    its x part against central differences of the (kernel) first-order gradient."""
    fused, plain = _pair(name, 1.3)
    rng = np.random.default_rng(2)
    x, w, u = (ms.Tensor(_inputs(np.float64, seed=3)), ms.Tensor(rng.normal(size=(7, 5))),
               ms.Tensor(rng.normal(size=(7, 5))))
    got = ms.grad(_GradDot(fused), grad_position=(0, 1, 2))(x, w, u)
    ref = ms.grad(_GradDot(plain), grad_position=(0, 1, 2))(x, w, u)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-12, atol=1e-12)
    d = rng.normal(size=(7, 5))
    first = ms.grad(_WeightedSum(fused), grad_position=0)
    eps = 1e-6
    fd = ((first(ms.Tensor(x.asnumpy() + eps * d), w).asnumpy() - first(ms.Tensor(x.asnumpy() - eps * d), w)
           .asnumpy()) * u.asnumpy()).sum() / (2 * eps)
    np.testing.assert_allclose((got[0].asnumpy() * d).sum(), fd, rtol=1e-7)


def test_normalize2mom_fc_and_gate_use_the_kernels(graph_mode):
    """normalize2mom takes the kernel of c f for known activations only; a FullyConnectedNet's and a Gate's force
    loss (weights' gradient of |d/dx E|^2) is the same with and without the kernels."""
    native_calls.skip_without_compiler()
    assert normalize2mom(ops.silu).fused is not None and normalize2mom(ops.abs).fused is None
    assert normalize2mom(lambda x: x * ops.sigmoid(x)).fused is None  # an unknown function: the plain ops
    with native_kernels(False):
        assert normalize2mom(ops.silu).fused is None

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.fc = e3nn.FullyConnectedNet([4, 8, 8, 4], e3nn.silu, dtype=ms.float64)
            self.gate = e3nn.Gate("2x0e + 0o", [e3nn.silu, ops.tanh], "0e", [ops.sigmoid], "1o", dtype=ms.float64)

        def construct(self, x):
            return self.gate(ops.concat((self.fc(x), x[:, 1:]), 1))

    class ForceLoss(nn.Cell):
        def __init__(self, net):
            super().__init__()
            self.force = ms.grad(_WeightedSum(net), grad_position=0)

        def construct(self, x, w):
            return (self.force(x, w) ** 2).sum()

    rng = np.random.default_rng(4)
    x = ms.Tensor(rng.normal(size=(6, 4)))
    w = ms.Tensor(rng.normal(size=(6, 6)))
    results = []
    for enabled in (True, False):
        with native_kernels(enabled):
            ms.set_seed(0)
            net = Net()
        assert (net.fc[0]._raw_fused is not None) == enabled  # pylint: disable=protected-access
        assert all((act.fused is not None) == enabled for act in net.gate.act_scalars.acts)
        loss = ForceLoss(net)
        grads = ms.grad(loss, grad_position=None, weights=net.trainable_params())(x, w)
        results.append(([g.asnumpy() for g in grads], loss(x, w).asnumpy()))
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


def test_float16_and_empty_inputs_take_the_plain_ops():
    """normalize2mom with the kernel runs inputs the kernel does not take through its own plain ops."""
    native_calls.skip_without_compiler()
    fused = normalize2mom(e3nn.silu)
    with native_kernels(False):
        plain = normalize2mom(e3nn.silu)
    assert fused.fused is not None
    x = ms.Tensor(_inputs(np.float16))
    np.testing.assert_allclose(fused(x).asnumpy(), plain(x).asnumpy(), rtol=1e-3, atol=1e-3)
    assert fused(ms.Tensor(np.zeros((0, 3), np.float32))).shape == (0, 3)


@pytest.mark.parametrize("npdt,rtol", [(np.float32, 1e-6), (np.float64, 1e-14)])
def test_generated_exponential_is_accurate(npdt, rtol):
    """act_forward of sigmoid (the range-reduced exp) against numpy over the whole float range, ends included:
    saturated values, infinities and NaN."""
    lib = native_calls.load(activation_source("sigmoid", 1.0), "activation_test")
    x = np.concatenate([np.linspace(-90, 90, 20001), [-1e4, 1e4, -np.inf, np.inf, np.nan]]).astype(npdt)
    y = np.empty_like(x)
    assert native_calls.call(lib, "act_forward", [x, y]) == 0
    ref = _sigmoid(x.astype(np.float64))
    finite = np.isfinite(x)
    big = finite & (ref > 1e-30)
    np.testing.assert_allclose(y[big], ref[big], rtol=rtol)
    assert np.all(np.abs(y[finite & ~big]) < 1e-30)  # the far negative tail: tiny, not garbage
    assert 0.0 <= y[-3] < 1e-30 and y[-2] == 1.0 and np.isnan(y[-1])  # exp clamped at the ends of its range


def test_source_module_imports_no_mindspore():
    assert not imports_mindspore("mindchemistry_e3.math._activation_cpu_np")
    with pytest.raises(ValueError, match="no native kernel for 'relu'"):
        activation_source("relu")
