"""math.soft_one_hot_linspace / SoftOneHotLinspace / bessel / soft_unit_step: e3nn 0.6.0 parity (float64 1e-10,
float32 1e-5), gradients vs e3nn and vs finite differences, second order in graph mode, finiteness, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn

from mindchemistry_e3.math import SoftOneHotLinspace, bessel, soft_one_hot_linspace, soft_unit_step

BASES = ("gaussian", "cosine", "smooth_finite", "fourier", "bessel")
CASES = [(b, c) for b in BASES for c in (False, True)]


def _key(basis, cutoff):
    return f"{basis}_{'cut' if cutoff else 'nocut'}"


class _WeightedSum(nn.Cell):
    """x -> sum(net(x) * w): a scalar whose x-gradient is the fixture's ``grad``."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x, w):
        return (self.net(x) * w).sum()


class _GradNormSquared(nn.Cell):
    """x -> sum(u * d/dx sum(net(x) * w)): contains a first-order gradient (for the 2nd-order check)."""

    def __init__(self, net):
        super().__init__()
        self.inner = _WeightedSum(net)
        self.grad = ms.grad(self.inner, grad_position=0)

    def construct(self, x, w, u):
        return (self.grad(x, w) * u).sum()


@pytest.mark.parametrize("basis,cutoff", CASES)
def test_matches_e3nn(mode, e3nn_fixture, basis, cutoff):
    ref = e3nn_fixture("math_soft_one_hot_linspace")
    start, end, number = float(ref["start"]), float(ref["end"]), int(ref["number"])
    key = _key(basis, cutoff)
    for dtype, tol in ((ms.float64, 1e-10), (ms.float32, 1e-5)):
        npdt = np.float64 if dtype == ms.float64 else np.float32
        cell = SoftOneHotLinspace(start, end, number, basis, cutoff, dtype=dtype)
        x = ms.Tensor(ref["x"].astype(npdt))
        y = cell(x).asnumpy()
        assert y.dtype == npdt and y.shape == ref[f"{key}_y"].shape
        scale = np.abs(ref[f"{key}_y"]).max()
        np.testing.assert_allclose(y, ref[f"{key}_y"], rtol=tol, atol=tol * scale)
        g = ms.grad(_WeightedSum(cell), grad_position=0)(x, ms.Tensor(ref[f"{key}_w"].astype(npdt))).asnumpy()
        gscale = np.abs(ref[f"{key}_grad"]).max()
        np.testing.assert_allclose(g, ref[f"{key}_grad"], rtol=tol, atol=tol * gscale)


class _Functional(nn.Cell):
    """The function form called inside a construct (graph mode compiles it)."""

    def __init__(self, basis, cutoff):
        super().__init__()
        self.basis, self.cutoff = basis, cutoff

    def construct(self, x):
        return soft_one_hot_linspace(x, -0.5, 1.5, 6, basis=self.basis, cutoff=self.cutoff)


@pytest.mark.parametrize("basis,cutoff", [("smooth_finite", True), ("bessel", False), ("fourier", True)])
def test_function_form_matches_e3nn(mode, e3nn_fixture, basis, cutoff):
    ref = e3nn_fixture("math_soft_one_hot_linspace")
    for npdt, tol in ((np.float64, 1e-10), (np.float32, 1e-5)):
        x = ms.Tensor(ref["x"].astype(npdt))
        expected = ref[f"{_key(basis, cutoff)}_y"]
        y = _Functional(basis, cutoff)(x).asnumpy()
        assert y.dtype == npdt
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * np.abs(expected).max())


@pytest.mark.parametrize("basis,cutoff", CASES)
def test_first_order_grad(graph_mode, basis, cutoff):  # both modes' gradients are compared with e3nn above
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 2.0, 40)
    w = rng.normal(size=(40, 5))
    net = _WeightedSum(SoftOneHotLinspace(-0.5, 1.5, 5, basis, cutoff, dtype=ms.float64))
    g = ms.grad(net, grad_position=0)(ms.Tensor(x), ms.Tensor(w)).asnumpy()
    cell = SoftOneHotLinspace(-0.5, 1.5, 5, basis, cutoff, dtype=ms.float64)
    h = 1e-6

    def per_point(v):
        return (cell(ms.Tensor(v)).asnumpy() * w).sum(-1)

    fd = (per_point(x + h) - per_point(x - h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize("basis", ["smooth_finite", "bessel", "gaussian"])
def test_second_order_grad(graph_mode, basis):
    rng = np.random.default_rng(2)
    x = rng.uniform(-0.4, 1.4, 20)
    w, u = rng.normal(size=(20, 4)), rng.normal(size=20)
    cell = SoftOneHotLinspace(-0.5, 1.5, 4, basis, True, dtype=ms.float64)
    hess = ms.grad(_GradNormSquared(cell), grad_position=0)(ms.Tensor(x), ms.Tensor(w), ms.Tensor(u)).asnumpy()
    first = ms.grad(_WeightedSum(cell), grad_position=0)
    h = 1e-5
    fd = (first(ms.Tensor(x + h), ms.Tensor(w)).asnumpy() - first(ms.Tensor(x - h), ms.Tensor(w)).asnumpy()) / (2 * h)
    np.testing.assert_allclose(hess, fd * u, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(fd * u).max()))


@pytest.mark.parametrize("basis,cutoff", CASES)
def test_finite_at_knots_and_ends(graph_mode, basis, cutoff):
    """Values and gradients are finite at start (bessel's 0/0), at the ends and at the centres."""
    x = np.concatenate([np.linspace(-0.5, 1.5, 9), [-0.5, 1.5, -3.0, 4.0]])
    cell = SoftOneHotLinspace(-0.5, 1.5, 4, basis, cutoff, dtype=ms.float64)
    y = cell(ms.Tensor(x)).asnumpy()
    g = ms.grad(_WeightedSum(cell), grad_position=0)(ms.Tensor(x), ms.Tensor(np.ones((len(x), 4)))).asnumpy()
    assert np.isfinite(y).all() and np.isfinite(g).all()
    if basis == "bessel":
        expected = np.sqrt(2 / 2.0) * np.arange(1, 5) * np.pi / 2.0 * (0.0 if cutoff else 1.0)
        np.testing.assert_allclose(y[0], expected, rtol=1e-12, atol=1e-15)


def test_soft_unit_step_matches_e3nn(mode, e3nn_fixture):
    ref = e3nn_fixture("math_soft_unit_step")
    for dtype, npdt, tol in ((ms.float64, np.float64, 1e-12), (ms.float32, np.float32, 1e-5)):
        x = ms.Tensor(ref["x"].astype(npdt))
        y = soft_unit_step(x).asnumpy()
        np.testing.assert_allclose(y, ref["y"], rtol=tol, atol=tol)

        class Net(nn.Cell):
            def construct(self, t, w):
                return (soft_unit_step(t) * w).sum()

        g = ms.grad(Net(), grad_position=0)(x, ms.Tensor(ref["w"].astype(npdt))).asnumpy()
        np.testing.assert_allclose(g, ref["grad"], rtol=tol * 10, atol=tol)


def test_soft_unit_step_finite_grads_everywhere(graph_mode):
    x = np.array([-1e300, -1.0, -1e-300, 0.0, 1e-300, 1e-200, 1e-5, 1e-3, 1.1e-3, 0.5, 1e300])

    class Net(nn.Cell):
        def construct(self, t):
            return soft_unit_step(t).sum()

    class Outer(nn.Cell):
        def __init__(self):
            super().__init__()
            self.g = ms.grad(Net(), grad_position=0)

        def construct(self, t):
            return self.g(t).sum()

    for dtype in (ms.float64, ms.float32):
        t = ms.Tensor(x, dtype)
        assert np.isfinite(soft_unit_step(t).asnumpy()).all()
        assert np.isfinite(ms.grad(Net(), grad_position=0)(t).asnumpy()).all()
        assert np.isfinite(ms.grad(Outer(), grad_position=0)(t).asnumpy()).all()


def test_bessel_matches_e3nn(mode, e3nn_fixture):
    ref = e3nn_fixture("math_bessel")
    n, x_max = int(ref["n"]), float(ref["x_max"])

    class Net(nn.Cell):
        def construct(self, t, w):
            return (bessel(t, n, x_max) * w).sum()

    x = ms.Tensor(ref["x"])
    np.testing.assert_allclose(bessel(x, n, x_max).asnumpy(), ref["y"], rtol=1e-10, atol=1e-12)
    g = ms.grad(Net(), grad_position=0)(x, ms.Tensor(ref["w"])).asnumpy()
    np.testing.assert_allclose(g, ref["grad"], rtol=1e-10, atol=1e-10)


def test_bad_input():
    x = ms.Tensor(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="cutoff"):
        soft_one_hot_linspace(x, 0.0, 1.0, 4, basis="gaussian")
    with pytest.raises(ValueError, match="basis"):
        SoftOneHotLinspace(0.0, 1.0, 4, basis="gauss", cutoff=True)
    with pytest.raises(ValueError, match="number"):
        SoftOneHotLinspace(0.0, 1.0, 0, basis="gaussian", cutoff=True)
    with pytest.raises(ValueError, match="end > start"):
        SoftOneHotLinspace(1.0, 1.0, 4, basis="gaussian", cutoff=True)
    with pytest.raises(ValueError, match="dtype"):
        SoftOneHotLinspace(0.0, 1.0, 4, basis="gaussian", cutoff=True, dtype=ms.int32)
    with pytest.raises(ValueError, match="n must be"):
        bessel(x, 0)
