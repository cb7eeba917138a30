"""FullyConnectedNet: e3nn parity (values, input and weight gradients), normalisation, 1st/2nd-order gradients."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3.nn import FullyConnectedNet
from tests.nn.nn_testing import batched_finite_difference, finite_difference

ACTS = {"silu": ops.silu, "tanh": ops.tanh, "None": None}


def _build(f, dtype=ms.float64):
    net = FullyConnectedNet(f["hs"].tolist(), ACTS[str(f["act"])], variance_in=float(f["variance_in"]),
                            variance_out=float(f["variance_out"]), out_act=bool(f["out_act"]), dtype=dtype)
    names = str(f["param_names"]).split(",")
    assert [p.name for p in net.trainable_params()] == names
    for p in net.trainable_params():
        p.set_data(ms.Tensor(f[f"param_{p.name}"], dtype))
    return net


class _Grad(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ms.value_and_grad(self.energy, grad_position=0, weights=net.trainable_params(), has_aux=True)

    def energy(self, x, cot):
        out = self.net(x)
        return (out * cot).sum(), out

    def construct(self, x, cot):
        (_, out), grads = self.grad(x, cot)
        return out, grads


@pytest.mark.parametrize("case", range(4))
def test_matches_e3nn(mode, e3nn_fixture, case):
    f = e3nn_fixture(f"nn_layers_fc_{case}")
    net = _build(f)
    assert repr(net) == f"FullyConnectedNet{f['hs'].tolist()}"
    names = str(f["param_names"]).split(",")
    out, (grad_x, grad_w) = _Grad(net)(ms.Tensor(f["x"]), ms.Tensor(f["cot"]))
    np.testing.assert_allclose(out.asnumpy(), f["out"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x.asnumpy(), f["grad_x"], rtol=1e-10, atol=1e-12)
    assert len(grad_w) == len(names)
    for name, g in zip(names, grad_w):
        np.testing.assert_allclose(g.asnumpy(), f[f"grad_{name}"], rtol=1e-10, atol=1e-12)


def test_matches_e3nn_float32(mode, e3nn_fixture):
    f = e3nn_fixture("nn_layers_fc_3")
    net = _build(f, ms.float32)
    names = str(f["param_names"]).split(",")
    out, (grad_x, grad_w) = _Grad(net)(ms.Tensor(f["x"], ms.float32), ms.Tensor(f["cot"], ms.float32))
    assert out.dtype == ms.float32
    np.testing.assert_allclose(out.asnumpy(), f["out"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad_x.asnumpy(), f["grad_x"], rtol=1e-5, atol=1e-5)
    for name, g in zip(names, grad_w):
        np.testing.assert_allclose(g.asnumpy(), f[f"grad_{name}"], rtol=1e-5, atol=1e-5)


def test_initialisation_and_normalisation(mode):
    """Weights are standard normal; with normalised activations the output keeps about unit second moment."""
    ms.set_seed(0)
    net = FullyConnectedNet([64, 256, 256, 1], ops.silu, variance_out=4.0, dtype=ms.float64)
    w = net.layer1.weight.asnumpy()
    assert net.layer1.weight.dtype == ms.float64
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    x = np.random.default_rng(0).standard_normal((2000, 64))
    out = net(ms.Tensor(x)).asnumpy()
    assert out.shape == (2000, 1)
    assert 2.0 < (out ** 2).mean() < 8.0  # ~ variance_out (one random weight draw, so loose)


def test_middle_axes(mode):
    net = FullyConnectedNet([3, 5, 2], ops.tanh, dtype=ms.float64)
    x = np.random.default_rng(1).standard_normal((4, 2, 3))
    out = net(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(out.reshape(8, 2), net(ms.Tensor(x.reshape(8, 3))).asnumpy(), rtol=1e-14)


def test_first_order_grad(mode):
    net = FullyConnectedNet([3, 5, 4, 2], ops.silu, variance_in=2.0, variance_out=0.5, out_act=True,
                            dtype=ms.float64)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3))
    cot = rng.standard_normal(2)
    _, (grad_x, grad_w) = _Grad(net)(ms.Tensor(x), ms.Tensor(np.tile(cot, (4, 1))))
    np.testing.assert_allclose(grad_x.asnumpy(), batched_finite_difference(lambda v: net(ms.Tensor(v)).asnumpy()
                                                                             @ cot, x), rtol=1e-7, atol=1e-8)
    weight = net.layer1.weight
    w0 = weight.asnumpy().copy()

    def loss_of_w(w):
        weight.set_data(ms.Tensor(w))
        return float(net(ms.Tensor(x)).asnumpy() @ cot @ np.ones(4))

    fd = finite_difference(loss_of_w, w0)
    weight.set_data(ms.Tensor(w0))
    np.testing.assert_allclose(grad_w[1].asnumpy(), fd, rtol=1e-6, atol=1e-8)


class _ForceLoss(nn.Cell):
    """L = sum(w * d/dx sum(cot * net(x))): the force term of a potential, second order in the weights."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ops.GradOperation()

    def energy(self, x, cot):
        return (self.net(x) * cot).sum()

    def construct(self, x, cot, w):
        return (self.grad(self.energy)(x, cot) * w).sum()


class _WeightGrad(nn.Cell):
    def __init__(self, loss, params):
        super().__init__()
        self.grad = ms.grad(loss, grad_position=None, weights=params)

    def construct(self, x, cot, w):
        return self.grad(x, cot, w)


def test_second_order_grad(graph_mode):
    net = FullyConnectedNet([3, 6, 2], ops.silu, dtype=ms.float64)
    rng = np.random.default_rng(3)
    x, cot, w = (ms.Tensor(a) for a in (rng.standard_normal((4, 3)), rng.standard_normal((4, 2)),
                                         rng.standard_normal((4, 3))))
    loss = _ForceLoss(net)
    grads = _WeightGrad(loss, net.trainable_params())(x, cot, w)
    for p, g in zip(net.trainable_params(), grads):
        p0 = p.asnumpy().copy()

        def loss_of_p(v, p=p):
            p.set_data(ms.Tensor(v))
            return float(loss(x, cot, w).asnumpy())

        fd = finite_difference(loss_of_p, p0, eps=1e-5)
        p.set_data(ms.Tensor(p0))
        np.testing.assert_allclose(g.asnumpy(), fd, rtol=1e-6, atol=1e-8)


def test_bad_input():
    with pytest.raises(ValueError, match="at least two"):
        FullyConnectedNet([4])
    with pytest.raises(ValueError, match="non-negative"):
        FullyConnectedNet([4, -1, 2])
    with pytest.raises(ValueError, match="size 4"):
        FullyConnectedNet([4, 2])(ms.Tensor(np.zeros((3, 5)), ms.float32))


def test_numpy_input(mode):
    net = FullyConnectedNet([3, 4, 2], ops.silu, dtype=ms.float64)
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(net(x).asnumpy(), net(ms.Tensor(x)).asnumpy())


@pytest.mark.parametrize("hs, out_act", [([4, 8, 0], False), ([4, 0], False), ([0, 3], True), ([4, 0, 3], False)])
def test_width_zero_layers(mode, hs, out_act):
    """e3nn accepts sizes 0 (a radial network of a tensor product without weights): its weights are empty and its
    products zeros, so the output is act(0) * its constant with out_act, else 0; gradients run."""
    net = FullyConnectedNet(hs, ops.sigmoid, out_act=out_act, dtype=ms.float64)
    assert [tuple(p.shape) for p in net.trainable_params()] == list(zip(hs, hs[1:]))
    x = ms.Tensor(np.random.default_rng(0).standard_normal((5, hs[0])), ms.float64)
    out, grads = _Grad(net)(x, ms.Tensor(np.ones((5, hs[-1])), ms.float64))
    # sigmoid(0) = 1/2, normalised by normalize2mom's constant: FullyConnectedNet([1, 1]) with a zero weight
    expected = 0.0
    if out_act:
        ref = FullyConnectedNet([1, 1], ops.sigmoid, out_act=True, dtype=ms.float64)
        ref.trainable_params()[0].set_data(ms.Tensor(np.zeros((1, 1)), ms.float64))
        expected = float(ref(ms.Tensor(np.ones((1, 1)), ms.float64)).asnumpy()[0, 0])
        assert expected > 0.5
    np.testing.assert_allclose(out.asnumpy(), np.full((5, hs[-1]), expected), rtol=1e-12)
    assert [tuple(g.shape) for g in grads[1]] == list(zip(hs, hs[1:]))
