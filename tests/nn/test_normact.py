"""NormActivation: e3nn parity (values, input and bias gradients, epsilon clamp), equivariance, gradients."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3.nn import NormActivation
from tests.nn.nn_testing import batched_finite_difference, irreps_D, random_rotations

ACTS = {"silu": ops.silu, "tanh": ops.tanh, "sigmoid": ops.sigmoid}


def _build(f, dtype=ms.float64):
    eps = float(f["epsilon"])
    n = NormActivation(str(f["irreps"]), ACTS[str(f["act"])], normalize=True, epsilon=None if eps < 0 else eps,
                       bias=bool(f["bias"]), dtype=dtype)
    if n.bias:
        n.biases.set_data(ms.Tensor(f["param_biases"], dtype))
    return n


class _Grad(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        params = net.trainable_params()
        self.has_weights = bool(params)
        self.grad = ms.value_and_grad(self.energy, grad_position=0, weights=params if params else None,
                                      has_aux=True)

    def energy(self, x, cot):
        out = self.net(x)
        return (out * cot).sum(), out

    def construct(self, x, cot):
        (_, out), grads = self.grad(x, cot)
        return out, grads


@pytest.mark.parametrize("case", range(3))
def test_matches_e3nn(mode, e3nn_fixture, case):
    f = e3nn_fixture(f"nn_layers_normact_{case}")
    n = _build(f)
    run = _Grad(n)
    out, grads = run(ms.Tensor(f["x"]), ms.Tensor(f["cot"]))
    np.testing.assert_allclose(out.asnumpy(), f["out"], rtol=1e-10, atol=1e-12)
    if run.has_weights:
        grad_x, (grad_b,) = grads
        np.testing.assert_allclose(grad_b.asnumpy(), f["grad_biases"], rtol=1e-10, atol=1e-12)
    else:
        grad_x = grads
    np.testing.assert_allclose(grad_x.asnumpy(), f["grad_x"], rtol=1e-10, atol=1e-10)


def test_matches_e3nn_float32(mode, e3nn_fixture):
    f = e3nn_fixture("nn_layers_normact_0")
    out, (grad_x, _) = _Grad(_build(f, ms.float32))(ms.Tensor(f["x"], ms.float32), ms.Tensor(f["cot"], ms.float32))
    assert out.dtype == ms.float32
    np.testing.assert_allclose(out.asnumpy(), f["out"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad_x.asnumpy(), f["grad_x"], rtol=1e-5, atol=1e-5 * np.abs(f["grad_x"]).max())


def _reference(x, irreps_dims, act, normalize, bias):
    out, start, k = [], 0, 0
    for mul, d in irreps_dims:
        block = x[..., start:start + mul * d].reshape(x.shape[:-1] + (mul, d))
        norm = np.linalg.norm(block, axis=-1, keepdims=True)
        s = act(norm + bias[k:k + mul, None])
        if normalize:
            s = s / norm
        out.append((block * s).reshape(x.shape[:-1] + (mul * d,)))
        start += mul * d
        k += mul
    return np.concatenate(out, -1)


def test_without_normalize(mode):
    n = NormActivation("2x0e + 1o + 2e", ops.tanh, normalize=False, bias=True, dtype=ms.float64)
    bias = np.array([0.1, -0.2, 0.3, 0.4])
    n.biases.set_data(ms.Tensor(bias))
    x = np.random.default_rng(0).standard_normal((3, 2, 10))
    x[0, 0, 2:5] = 0.0  # a zero vector: finite output and gradients
    expected = _reference(x, [(2, 1), (1, 3), (1, 5)], np.tanh, False, bias)
    np.testing.assert_allclose(n(ms.Tensor(x)).asnumpy(), expected, rtol=1e-12, atol=1e-14)
    out, (grad_x, _) = _Grad(n)(ms.Tensor(x), ms.Tensor(np.ones_like(x)))
    assert np.isfinite(grad_x.asnumpy()).all()


def test_equivariance(mode):
    irreps = "2x0e + 0o + 2x1o + 1e + 2e"
    n = NormActivation(irreps, ops.sigmoid, bias=True, dtype=ms.float64)
    n.biases.set_data(ms.Tensor(np.linspace(-1, 1, 7)))
    x = np.random.default_rng(1).standard_normal((4, 17))
    for a, b, g, par in random_rotations(8):
        d = irreps_D(irreps, a, b, g, par)
        np.testing.assert_allclose(n(ms.Tensor(x @ d.T)).asnumpy(), n(ms.Tensor(x)).asnumpy() @ d.T, atol=1e-12)


def test_first_order_grad(mode):
    n = NormActivation("0e + 2x1o + 2e", ops.silu, epsilon=0.3, dtype=ms.float64)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 12))
    x[0, 1:4] *= 0.01  # below epsilon: clamped
    cot = rng.standard_normal(12)
    grad = _Grad(n)(ms.Tensor(x), ms.Tensor(np.tile(cot, (3, 1))))[1]
    fd = batched_finite_difference(lambda v: n(ms.Tensor(v)).asnumpy() @ cot, x)
    np.testing.assert_allclose(grad.asnumpy(), fd, rtol=1e-7, atol=1e-8)


def test_bad_input():
    with pytest.raises(ValueError, match="don't make sense"):
        NormActivation("1o", ops.sigmoid, normalize=False, epsilon=0.1)
    with pytest.raises(ValueError, match="strictly positive"):
        NormActivation("1o", ops.sigmoid, epsilon=0.0)
    with pytest.raises(ValueError, match="callable"):
        NormActivation("1o", "sigmoid")
    with pytest.raises(ValueError, match="size 3"):
        NormActivation("1o", ops.sigmoid)(ms.Tensor(np.zeros((2, 4)), ms.float32))
