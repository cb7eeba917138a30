"""PyNative second-order guard: a force loss through Linear, TensorProduct, Gate and spherical harmonics is right
(finite differences) in GRAPH_MODE and under mindspore.jit, refused in PYNATIVE; first order is never refused."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3 import o3
from mindchemistry_e3.nn import Activation, FullyConnectedNet, Gate
from mindchemistry_e3.util.second_order import PyNativeSecondOrderError, SecondOrderGuard, guard_second_order

F64 = ms.float64


class Energy(SecondOrderGuard, nn.Cell):
    """E = sum_atoms Linear(Gate(TP(Y(x), Y(x)))) with unnormalised spherical harmonics (not rotation-trivial)."""

    def __init__(self):
        super().__init__()
        self.sh = o3.SphericalHarmonics("0e + 1o + 2e", False, "component", dtype=F64)
        self.tp = o3.FullyConnectedTensorProduct("0e + 1o + 2e", "0e + 1o + 2e", "2x0e + 2x0e + 2x1o", dtype=F64)
        self.gate = Gate("2x0e", [ops.tanh], "2x0e", [ops.sigmoid], "2x1o", dtype=F64)
        self.lin = o3.Linear(self.gate.irreps_out, "0e", dtype=F64)
        rng = np.random.default_rng(1)
        for p in self.trainable_params():
            p.set_data(ms.Tensor(rng.standard_normal(p.shape) * 0.5, F64))

    def construct(self, x):
        s = self.sh(x)
        return self.lin(self.gate(self.tp(s, s))).sum()


class ForceLoss(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ops.GradOperation()

    def construct(self, x):
        f = self.grad(self.net)(x)
        return (f * f).sum()


def _x():
    return ms.Tensor(np.random.default_rng(0).standard_normal((4, 3)), F64)


SAMPLES = 4  # weight entries checked per parameter (spread over the parameter)


def _fd_weight_grad(loss, weights, x, eps=1e-6):
    """Central finite differences of loss(x) with respect to SAMPLES entries of every weight (in the current
    mode: compiled once in GRAPH_MODE); returns ``[(indices, fd)]``."""
    out = []
    for p in weights:
        w0 = p.asnumpy().copy()
        indices = np.unique(np.linspace(0, w0.size - 1, SAMPLES).astype(int))
        fd = np.zeros(len(indices))
        for k, i in enumerate(indices):
            for s in (1.0, -1.0):
                w = w0.copy()
                w.flat[i] += s * eps
                p.set_data(ms.Tensor(w, F64))
                fd[k] += s * float(loss(x).asnumpy()) / (2 * eps)
        p.set_data(ms.Tensor(w0, F64))
        out.append((indices, fd))
    return out


def _assert_matches_fd(grads, fds):
    for g, (indices, fd) in zip(grads, fds):
        np.testing.assert_allclose(g.asnumpy().ravel()[indices], fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())


def test_second_order_grad(graph_mode):
    net = Energy()
    loss = ForceLoss(net)
    x = _x()
    _, grads = ms.value_and_grad(loss, None, net.trainable_params())(x)
    _assert_matches_fd(grads, _fd_weight_grad(loss, net.trainable_params(), x))


def test_second_order_under_jit_in_pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = Energy()
    loss = ForceLoss(net)
    x = _x()
    _, grads = ms.jit(ms.value_and_grad(loss, None, net.trainable_params()))(x)
    _assert_matches_fd(grads, _fd_weight_grad(loss, net.trainable_params(), x))


def test_second_order_refused_in_pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = Energy()
    loss = ForceLoss(net)
    with pytest.raises(PyNativeSecondOrderError, match="GRAPH_MODE"):
        ms.value_and_grad(loss, None, net.trainable_params())(_x())

    def loss_fn(x):  # the functional form of the same loss
        f = ms.grad(net)(x)
        return (f * f).sum()

    with pytest.raises(PyNativeSecondOrderError, match="Energy"):
        ms.grad(loss_fn, None, net.trainable_params())(_x())


def test_gate_alone_is_refused_in_pynative():
    """The guard inside a library Cell (normalize2mom in Gate's activations) covers a user Cell without it."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    gate = Gate("2x0e", [ops.tanh], "2x0e", [ops.sigmoid], "2x1o", dtype=F64)
    x = gate.irreps_in.randn(3, -1, dtype=F64, seed=0)

    def loss_fn(x, w):
        f = ms.grad(lambda y: (gate(y) * w).sum())(x)
        return (f * f).sum()

    w = ms.Tensor(np.ones(gate.irreps_out.dim), F64)
    with pytest.raises(PyNativeSecondOrderError):
        ms.grad(loss_fn, grad_position=1)(x, w)


def test_first_order_grad(mode):
    """Forces and weight gradients of the energy: never refused, equal to finite differences in both modes."""
    net = Energy()
    x = _x()
    _, grads = ms.value_and_grad(net, None, net.trainable_params())(x)
    _assert_matches_fd(grads, _fd_weight_grad(net, net.trainable_params(), x))
    force = ms.grad(net)(x).asnumpy()
    eps, x0 = 1e-6, x.asnumpy()
    fd = np.zeros_like(x0)
    for i in range(x0.size):
        for s in (1.0, -1.0):
            xp = x0.copy()
            xp.flat[i] += s * eps
            fd.flat[i] += s * float(net(ms.Tensor(xp, F64)).asnumpy()) / (2 * eps)
    np.testing.assert_allclose(force, fd, rtol=1e-6, atol=1e-8)


def test_guard_is_inert_outside_a_gradient():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    out = ms.Tensor(np.ones(3), F64)
    assert guard_second_order(nn.Cell(), out) is out
    assert guard_second_order(nn.Cell(), (out, [out])) == (out, [out])


def _sum_of(cell, *rest):
    """``x -> sum(cell(x, *rest) * w)`` as a plain function (no user Cell, hence no user guard)."""
    def energy(x, w):
        return (cell(x, *rest) * w).sum()
    return energy


def _core_cells():
    """(name, energy(x, w), x, w-dim) for the library's Cells with big products, each alone."""
    rng = np.random.default_rng(2)
    x16 = ms.Tensor(rng.standard_normal((3, 4)), F64)
    sh = o3.SphericalHarmonics("0e + 1o + 2e", False, dtype=F64)
    lin = o3.Linear("2x0e + 1x1o", "1x0e + 1x1o", dtype=F64)
    tp = o3.FullyConnectedTensorProduct("2x0e + 1x1o", "0e + 1o", "1x0e + 1x1o", dtype=F64)
    conv = o3.TensorProductConv("2x0e + 1x1o", "0e + 1o", "2x0e + 1x1o + 1x0e",
                                [(0, 0, 0, "uvu", True), (1, 1, 2, "uvu", True), (1, 0, 1, "uvu", True)], dtype=F64)
    conv_w = ms.Tensor(rng.standard_normal((4, conv.weight_numel)), F64)
    fc = FullyConnectedNet([4, 5, 2], ops.tanh, dtype=F64)
    act = Activation("4x0e", [ops.tanh], dtype=F64)
    y = ms.Tensor(rng.standard_normal((3, 4)), F64)
    edge_attr = ms.Tensor(rng.standard_normal((4, 4)), F64)
    src = ms.Tensor(np.array([0, 1, 2, 0], np.int32))
    dst = ms.Tensor(np.array([1, 2, 0, 0], np.int32))
    x5 = ms.Tensor(rng.standard_normal((3, 5)), F64)
    return [
        ("SphericalHarmonics", _sum_of(sh), ms.Tensor(rng.standard_normal((3, 3)), F64), 9),
        ("Linear", _sum_of(lin), x5, 4),
        ("TensorProduct", lambda x, w: (tp(x, y) * w).sum(), x5, 4),
        ("TensorProductConv", lambda x, w: (conv(x, edge_attr, conv_w, src, dst) * w).sum(), x5, 6),
        ("FullyConnectedNet", _sum_of(fc), x16, 2),
        ("Activation", _sum_of(act), x16, 4),
    ]


CORE_CELLS = ("SphericalHarmonics", "Linear", "TensorProduct", "TensorProductConv", "FullyConnectedNet",
              "Activation")


@pytest.mark.parametrize("index", range(len(CORE_CELLS)), ids=CORE_CELLS)
def test_core_cell_alone_is_refused_in_pynative(index):
    """Every library Cell guards itself: a second-order gradient through it alone, from plain functions, raises."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    name, energy, x, dim = _core_cells()[index]
    w = ms.Tensor(np.linspace(0.5, 1.5, dim), F64)

    def loss_fn(x, w):
        f = ms.grad(energy)(x, w)
        return (f * f).sum()

    # (Activation's output may be its normalize2mom's own output, whose guard then speaks first)
    with pytest.raises(PyNativeSecondOrderError, match=name + ("|normalize2mom" if name == "Activation" else "")):
        ms.grad(loss_fn, grad_position=1)(x, w)
    ms.grad(energy)(x, w)  # first order still allowed
