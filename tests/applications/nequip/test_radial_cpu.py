"""The fused CPU kernels of NequIP's radial embedding (applications.nequip.model.radial_cpu) against numpy and the
plain-op RadialEmbedding: values, first and second derivatives in r and in the trainable frequencies (finite
differences on the kernels; the Cells in both modes and, for second order, in graph mode)."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from applications.nequip.model.radial import RadialEmbedding, bessel_basis_np, polynomial_cutoff_np
from applications.nequip.model.radial_cpu_np import radial_source
from mindchemistry_e3.util import native_kernels
from tests import native_calls

F64 = ms.float64
R_MAX, P, K = 4.0, 6, 8


def _edges(rng, e=37):
    r = rng.uniform(0.3, 4.5, size=(e, 1))
    r[0], r[1] = 0.0, R_MAX  # a padded edge, one at the cutoff
    mask = np.ones((e, 1))
    mask[0] = mask[2] = 0.0
    return r, mask


def _numpy(r, w, mask):
    return bessel_basis_np(np.where(r[:, 0] > 0, r[:, 0], 1.0), R_MAX, K, w) * (
        polynomial_cutoff_np(r, R_MAX, P) * mask)


def test_kernels_against_numpy_and_finite_differences():
    lib = native_calls.load(radial_source(R_MAX, P, K), "radial_test")
    rng = np.random.default_rng(0)
    r, mask = _edges(rng)
    w = np.arange(1, K + 1) * np.pi + rng.normal(size=K) * 0.1

    def call(name, arrays):
        assert native_calls.call(lib, name, arrays) == 0

    def vjp(r_, w_, g_):
        out = [np.empty_like(r_), np.empty_like(w_), np.empty_like(mask)]
        call("radial_vjp", [r_, w_, mask, g_] + out)
        return out

    out = np.empty((len(r), K))
    call("radial_forward", [r, w, mask, out])
    np.testing.assert_allclose(out, _numpy(r, w, mask), rtol=1e-13, atol=1e-15)
    smooth = np.abs(r - R_MAX) > 1e-3  # (finite differences straddle the cutoff's kink there)
    g = rng.normal(size=out.shape)
    dr, dw, dm = vjp(r, w, g)
    assert np.all(dm == 0)
    eps = 1e-6
    fd = ((_numpy(r + eps, w, mask) - _numpy(r - eps, w, mask)) * g).sum(axis=1, keepdims=True) / (2 * eps)
    np.testing.assert_allclose(dr[smooth], fd[smooth], rtol=1e-6, atol=1e-8)
    d = rng.normal(size=K)
    np.testing.assert_allclose((dw * d).sum(), ((_numpy(r, w + eps * d, mask) - _numpy(r, w - eps * d, mask)) * g)
                               .sum() / (2 * eps), rtol=1e-7)
    hr, hw = rng.normal(size=r.shape) * smooth, rng.normal(size=K)
    gr, gw, gm, gg = np.empty_like(r), np.empty_like(w), np.empty_like(mask), np.empty_like(g)
    call("radial_vjp2", [r, w, mask, g, hr, hw, np.zeros_like(mask), gr, gw, gm, gg])

    def s(args):  # <(h_r, h_w), vjp(r, w, g)>, whose gradient vjp2 returns
        a, b, _ = vjp(*args)
        return (a * hr).sum() + (b * hw).sum()

    for k, (grad, direction) in enumerate(((gr, rng.normal(size=r.shape) * smooth), (gw, rng.normal(size=K)),
                                           (gg, rng.normal(size=g.shape)))):
        plus, minus = [r, w, g], [r, w, g]
        plus[k], minus[k] = plus[k] + eps * direction, minus[k] - eps * direction
        np.testing.assert_allclose((grad * direction).sum(), (s(plus) - s(minus)) / (2 * eps), rtol=1e-6)
    assert np.all(gm == 0)


def test_float32_kernel_is_accurate():
    lib = native_calls.load(radial_source(R_MAX, P, K), "radial_test")
    r = np.linspace(0.01, 3.99, 5001).reshape(-1, 1)
    w = np.arange(1, K + 1) * np.pi
    out = np.empty((len(r), K), np.float32)
    assert native_calls.call(lib, "radial_forward", [r.astype(np.float32), w.astype(np.float32),
                                                     np.ones_like(r, np.float32), out]) == 0
    ref = _numpy(r.astype(np.float32).astype(np.float64), w.astype(np.float32).astype(np.float64), np.ones_like(r))
    assert np.abs(out - ref).max() <= 1e-6 * np.abs(ref).max()


class _Sum(nn.Cell):
    def __init__(self, emb):
        super().__init__()
        self.emb = emb

    def construct(self, r, mask, u):
        return (ops.sin(self.emb(r, mask)) * u).sum()


class _ForceLoss(nn.Cell):
    def __init__(self, emb):
        super().__init__()
        self.grad = ms.grad(_Sum(emb), grad_position=0)

    def construct(self, r, mask, u):
        return (self.grad(r, mask, u) ** 2).sum()


def _twins():
    native_calls.skip_without_compiler()
    fused = RadialEmbedding(R_MAX, K, p=P, dtype=F64)
    with native_kernels(False):
        plain = RadialEmbedding(R_MAX, K, p=P, dtype=F64)
    assert fused.native is not None and plain.native is None
    w = np.arange(1, K + 1) * np.pi + np.random.default_rng(5).normal(size=K) * 0.1
    for emb in (fused, plain):
        emb.basis.bessel_weights.set_data(ms.Tensor(w, F64))
    return fused, plain


def test_cell_values_and_first_order_match_plain_ops(mode):
    fused, plain = _twins()
    rng = np.random.default_rng(1)
    r, mask = (ms.Tensor(a, F64) for a in _edges(rng))
    u = ms.Tensor(rng.normal(size=(37, K)), F64)
    np.testing.assert_allclose(fused(r, mask).asnumpy(), plain(r, mask).asnumpy(), rtol=1e-13, atol=1e-15)
    grads = []
    for emb in (fused, plain):
        loss = _Sum(emb)
        gr, gw = ms.grad(loss, grad_position=0, weights=loss.trainable_params())(r, mask, u)
        grads.append([gr.asnumpy()] + [g.asnumpy() for g in gw])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


def test_cell_second_order_matches_plain_ops(graph_mode):
    """The frequencies' gradient and the r-gradient of a loss on d/dr (force training), float64."""
    fused, plain = _twins()
    rng = np.random.default_rng(2)
    r, mask = (ms.Tensor(a, F64) for a in _edges(rng))
    u = ms.Tensor(rng.normal(size=(37, K)), F64)
    grads = []
    for emb in (fused, plain):
        loss = _ForceLoss(emb)
        gr, gw = ms.grad(loss, grad_position=0, weights=emb.trainable_params())(r, mask, u)
        grads.append([gr.asnumpy()] + [g.asnumpy() for g in gw])
    assert len(grads[0]) == 2 and np.abs(grads[0][1]).max() > 0
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-11)


def test_source_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match="p >= 2"):
        radial_source(R_MAX, 1, K)
