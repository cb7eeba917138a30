"""Activation: e3nn parity (values, gradients, irreps_out), parity rules, equivariance, gradients, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3.nn import Activation
from tests.nn.nn_testing import finite_difference, irreps_D, random_rotations

ACTS = {"silu": ops.silu, "tanh": ops.tanh, "sigmoid": ops.sigmoid, "abs": ops.abs, "relu": ops.relu,
        "None": None}


def _acts(names):
    return [ACTS[n] for n in str(names).split(",")] if str(names) else []


def _value_and_grad(cell, x, cot):
    def loss(x):
        return (cell(x) * cot).sum()

    return cell(x).asnumpy(), ms.grad(loss)(x).asnumpy()


@pytest.mark.parametrize("case", range(3))
def test_matches_e3nn(mode, e3nn_fixture, case):
    f = e3nn_fixture(f"nn_layers_activation_{case}")
    act = Activation(str(f["irreps_in"]), _acts(f["acts"]), dtype=ms.float64)
    assert repr(act.irreps_out) == str(f["irreps_out"])
    out, grad = _value_and_grad(act, ms.Tensor(f["x"]), ms.Tensor(f["cot"]))
    np.testing.assert_allclose(out, f["out"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, f["grad_x"], rtol=1e-10, atol=1e-12)


def test_matches_e3nn_float32(mode, e3nn_fixture):
    f = e3nn_fixture("nn_layers_activation_0")
    act = Activation(str(f["irreps_in"]), _acts(f["acts"]))
    out, grad = _value_and_grad(act, ms.Tensor(f["x"], ms.float32), ms.Tensor(f["cot"], ms.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, f["out"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad, f["grad_x"], rtol=1e-5, atol=1e-5)


def _my_sin(x):
    return ops.sin(x)


def test_parity_rules():
    assert repr(Activation("3x0o", [ops.abs]).irreps_out) == "3x0e"
    assert repr(Activation("3x0o", [ops.tanh]).irreps_out) == "3x0o"
    assert repr(Activation("3x0o", [_my_sin]).irreps_out) == "3x0o"  # a plain Python function works too
    assert repr(Activation("3x0e", [ops.tanh]).irreps_out) == "3x0e"
    assert repr(Activation("3x0o + 1e", [nn.Tanh(), None]).irreps_out) == "3x0o+1x1e"
    assert repr(Activation("256x0o+16x1e", [None, None]).irreps_out) == "256x0o+16x1e"


def test_dim_argument(mode):
    act = Activation("2x0e + 1o", [ops.tanh, None], dtype=ms.float64)
    x = np.random.default_rng(0).standard_normal((5, 4))
    out_last = act(ms.Tensor(x.T)).asnumpy()
    out_first = act(ms.Tensor(x), 0).asnumpy()
    np.testing.assert_allclose(out_first, out_last.T, rtol=1e-14)


def test_equivariance(mode):
    irreps = "2x0e + 2x0o + 1o + 0o + 2e"
    act = Activation(irreps, [ops.silu, ops.abs, None, ops.tanh, None], dtype=ms.float64)
    assert repr(act.irreps_out) == "2x0e+2x0e+1x1o+1x0o+1x2e"
    x = np.random.default_rng(1).standard_normal((4, 13))
    for a, b, g, par in random_rotations(6):
        d_in = irreps_D(irreps, a, b, g, par)
        d_out = irreps_D(act.irreps_out, a, b, g, par)
        np.testing.assert_allclose(act(ms.Tensor(x @ d_in.T)).asnumpy(), act(ms.Tensor(x)).asnumpy() @ d_out.T,
                                   atol=1e-12)


def test_first_order_grad(mode):
    act = Activation("2x0e + 0o + 1o", [ops.silu, ops.tanh, None], dtype=ms.float64)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6))
    cot = rng.standard_normal((3, 6))
    _, grad = _value_and_grad(act, ms.Tensor(x), ms.Tensor(cot))
    fd = finite_difference(lambda v: float((act(ms.Tensor(v)).asnumpy() * cot).sum()), x)
    np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-8)


def test_bad_input():
    with pytest.raises(ValueError, match="2 blocks but 1 activation"):
        Activation("0e + 1o", [ops.silu])
    with pytest.raises(ValueError, match="non-scalar block 1x1o"):
        Activation("0e + 1o", [ops.silu, ops.tanh])
    with pytest.raises(ValueError, match="parity is violated"):
        Activation("4x0o", [ops.silu])
    act = Activation("0e + 1o", [ops.silu, None])
    with pytest.raises(ValueError, match="size 4"):
        act(ms.Tensor(np.zeros((2, 3)), ms.float32))


class _SecondOrder(nn.Cell):
    """``sum(c * (d/dx sum(f(x) * c))^2)``: a force-style loss, second order in ``f``."""

    def __init__(self, f, c):
        super().__init__()
        self.f, self.c = f, c

    def energy(self, x):
        return (self.f(x) * self.c).sum()

    def construct(self, x):
        g = ms.grad(self.energy)(x)
        return (g * g * self.c).sum()


def test_silu_values_and_gradients(graph_mode):
    """nn.silu equals ops.silu in value, first and second derivatives (float64), and normalises like it."""
    from mindchemistry_e3.math import normalize2mom
    from mindchemistry_e3.nn import silu

    rng = np.random.default_rng(0)
    x, c = rng.standard_normal((3, 5)) * 3, ms.Tensor(rng.standard_normal((3, 5)))
    np.testing.assert_allclose(silu(ms.Tensor(x)).asnumpy(), ops.silu(ms.Tensor(x)).asnumpy(), rtol=1e-14)
    for order in (1, 2):
        grads = []
        for f in (silu, ops.silu):
            loss = _SecondOrder(f, c)
            if order == 1:
                loss = loss.energy
            grads.append(ms.grad(loss)(ms.Tensor(x)).asnumpy())
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)
    num = finite_difference(lambda v: float(_SecondOrder(silu, c)(ms.Tensor(v)).asnumpy()), x)
    np.testing.assert_allclose(ms.grad(_SecondOrder(silu, c))(ms.Tensor(x)).asnumpy(), num, rtol=1e-6, atol=1e-8)
    assert normalize2mom(silu).cst == normalize2mom(ops.silu).cst
