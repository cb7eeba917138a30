"""Tests of o3.Norm: e3nn 0.6.0 parity (values and gradients, also at zero irreps), invariance, finite
differences (first order, and second order in graph mode), graph and PyNative, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3 import o3
from mindchemistry_e3.o3._so3_np import wigner_D

TOL = {ms.float64: 1e-10, ms.float32: 1e-5}


def _close(actual, expected, tol):
    scale = max(np.abs(expected).max(initial=0.0), 1.0)
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("dtype", [ms.float64, ms.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("squared", [False, True])
def test_matches_e3nn(squared, dtype, mode, e3nn_fixture):
    ref = e3nn_fixture("norm")
    norm = o3.Norm(str(ref["irreps"]), squared=squared, dtype=dtype)
    assert str(norm.irreps_out) == str(ref["irreps_out"])
    x = ms.Tensor(ref["x"], dtype)
    ct = ms.Tensor(ref["ct"], dtype)
    suffix = "_sq" if squared else ""
    _close(norm(x).asnumpy(), ref["out" + suffix], TOL[dtype])

    def loss(x):
        return (norm(x) * ct).sum()

    grad = ms.grad(loss)(x).asnumpy()
    assert np.isfinite(grad).all()
    _close(grad, ref["grad_x" + suffix], TOL[dtype])


def test_irreps():
    norm = o3.Norm("2x0e + 1x0e + 3x1o + 0x2e + 1x1o")
    assert str(norm.irreps_in) == "3x0e+4x1o"  # zero blocks dropped, neighbours merged
    assert str(norm.irreps_out) == "7x0e"
    assert repr(norm) == "Norm(3x0e+4x1o)"


def test_invariance(mode):
    irreps = "2x0e + 3x1o + 2x2e + 1x3o + 1x1e"
    norm = o3.Norm(irreps, dtype=ms.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, norm.irreps_in.dim))
    out = norm(ms.Tensor(x)).asnumpy()
    for parity in (1, -1):  # rotation, then rotation times inversion (same shapes: one compiled graph)
        angles = rng.uniform(0, 2 * np.pi, 3)
        blocks = [wigner_D(ir.l, *angles) * (ir.p if parity == -1 else 1) for mul, ir in o3.Irreps(irreps)
                  for _ in range(mul)]
        D = np.zeros((x.shape[1],) * 2)
        i = 0
        for b in blocks:
            D[i:i + len(b), i:i + len(b)] = b
            i += len(b)
        np.testing.assert_allclose(norm(ms.Tensor(x @ D.T)).asnumpy(), out, atol=1e-12)
    # and it is the Euclidean norm of each irrep copy
    np.testing.assert_allclose(out[:, 2:5], np.linalg.norm(x[:, 2:11].reshape(5, 3, 3), axis=-1), atol=1e-14)


def test_first_order_grad_finite_differences():
    norm = o3.Norm("2x0e + 2x1o + 1x2e", dtype=ms.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 13))

    def loss(x):
        return ops.sin(norm(x)).sum()

    g = ms.grad(loss)(ms.Tensor(x)).asnumpy()
    direction = rng.standard_normal(x.shape)
    eps = 1e-6
    fd = (loss(ms.Tensor(x + eps * direction)).asnumpy() - loss(ms.Tensor(x - eps * direction)).asnumpy()) / (2 * eps)
    np.testing.assert_allclose((g * direction).sum(), fd, rtol=1e-7)


class _ForceLoss(nn.Cell):
    """L = sum(F**2 * c) with F = dE/dx, E = sum(w * norm(x)): Norm on the force path."""

    def __init__(self, norm, n):
        super().__init__()
        self.norm = norm
        self.w = ms.Parameter(ms.Tensor(np.linspace(0.5, 1.5, n), ms.float64), name="w")
        self.grad_x = ops.GradOperation()

    def energy(self, x):
        return (ops.sin(self.norm(x)) * self.w).sum()

    def construct(self, x, c):
        f = self.grad_x(self.energy)(x)
        return (c * f * f).sum()


def test_second_order_grad(graph_mode):
    norm = o3.Norm("2x0e + 2x1o + 1x2e", dtype=ms.float64)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 13))
    x[0, 2:5] = 0.0  # a zero vector: gradients must stay finite
    x, c = ms.Tensor(x), ms.Tensor(rng.standard_normal((3, 13)))
    net = _ForceLoss(norm, 5)
    (g,) = ms.grad(net, grad_position=None, weights=net.trainable_params())(x, c)
    assert np.isfinite(g.asnumpy()).all()
    w0 = net.w.asnumpy().copy()
    direction = rng.standard_normal(w0.shape)
    eps = 1e-6
    net.w.set_data(ms.Tensor(w0 + eps * direction))
    lp = net(x, c).asnumpy()
    net.w.set_data(ms.Tensor(w0 - eps * direction))
    lm = net(x, c).asnumpy()
    net.w.set_data(ms.Tensor(w0))
    np.testing.assert_allclose((g.asnumpy() * direction).sum(), (lp - lm) / (2 * eps), rtol=1e-6)


def test_bad_input(mode):
    norm = o3.Norm("2x0e + 1x1o")
    with pytest.raises(ValueError, match=r"Norm\(2x0e\+1x1o\): expected features of shape \(\.\.\., 5\)"):
        norm(ops.ones((3, 4), ms.float32))
    with pytest.raises(ValueError, match="dtype"):
        o3.Norm("1o", dtype=ms.int32)
