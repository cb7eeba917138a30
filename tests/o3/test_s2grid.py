"""Tests of o3 s2_grid / spherical_harmonics_s2_grid / rfft / irfft / ToS2Grid / FromS2Grid: e3nn 0.6.0 parity
(tables, outputs, input gradients), inverse pair, equivariance of the grid harmonics, graph and PyNative, bad
input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn

from mindchemistry_e3 import o3
from mindchemistry_e3.o3._s2grid_np import (
    legendre_np,
    quadrature_weights,
    spherical_harmonics_alpha_np,
)
from mindchemistry_e3.o3._so3_np import wigner_D

TO_CASES = [(3, (8, 9), "component"), (3, (8, 9), "norm"), (3, (8, 9), "integral"), (2, (6, 4), "component"),
            (4, None, "component"), (None, 10, "integral")]
FROM_CASES = [((8, 9), 3, "component", None), ((8, 9), 3, "norm", 2), ((8, 9), 3, "integral", None),
              ((6, 4), 2, "component", None), (10, None, "component", None)]


class _WithGrad(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ms.grad(self._loss, grad_position=0)

    def _loss(self, x, w):
        return (self.net(x) * w).sum()

    def construct(self, x, w):
        return self.net(x), self.grad(x, w)


def _check(out, ref, tol):
    np.testing.assert_allclose(out, ref, atol=tol * max(1.0, np.abs(ref).max()), rtol=0)


def test_tables_match_e3nn(e3nn_fixture):
    ref = e3nn_fixture("s2grid_grids")
    betas, alphas = o3.s2_grid(6, 7, dtype=ms.float64)
    _check(betas.asnumpy(), ref["s2_grid_betas"], 1e-14)
    _check(alphas.asnumpy(), ref["s2_grid_alphas"], 1e-14)
    _, _, shb, sha = o3.spherical_harmonics_s2_grid(3, 8, 7, dtype=ms.float64)
    _check(shb.asnumpy(), ref["sh_grid_shb"], 1e-13)
    _check(sha.asnumpy(), ref["sh_grid_sha"], 1e-13)
    _check(quadrature_weights(4), ref["qw4"], 1e-14)
    _check(o3.rfft(ms.Tensor(ref["rfft_x"]), 4).asnumpy(), ref["rfft_out"], 1e-12)
    _check(o3.irfft(ms.Tensor(ref["irfft_x"]), 11).asnumpy(), ref["irfft_out"], 1e-12)
    for k, (lmax, res, norm) in enumerate(TO_CASES):
        m = o3.ToS2Grid(lmax, res, normalization=norm, dtype=ms.float64)
        assert [m.lmax, m.res_beta, m.res_alpha] == ref[f"to{k}_res"].tolist()
        _check(m.shb.asnumpy(), ref[f"to{k}_shb"], 1e-13)
        _check(m.sha.asnumpy(), ref[f"to{k}_sha"], 1e-13)
        _check(m.grid.asnumpy(), ref[f"to{k}_grid"], 1e-14)
    for k, (res, lmax, norm, lmax_in) in enumerate(FROM_CASES):
        m = o3.FromS2Grid(res, lmax, normalization=norm, lmax_in=lmax_in, dtype=ms.float64)
        assert [m.lmax, m.res_beta, m.res_alpha] == ref[f"from{k}_res"].tolist()
        _check(m.shb.asnumpy(), ref[f"from{k}_shb"], 1e-13)
        _check(m.sha.asnumpy(), ref[f"from{k}_sha"], 1e-13)


@pytest.mark.parametrize("dtype", [ms.float64, ms.float32])
def test_matches_e3nn(mode, dtype, e3nn_fixture):
    ref = e3nn_fixture("s2grid_grids")
    npdt = np.float64 if dtype == ms.float64 else np.float32
    tol = 1e-10 if dtype == ms.float64 else 1e-5
    sample = mode == "pynative" or dtype == ms.float64
    for k, (lmax, res, norm) in enumerate(TO_CASES):
        if not sample and k != 3:
            continue
        m = o3.ToS2Grid(lmax, res, normalization=norm, dtype=dtype)
        out, gx = _WithGrad(m)(ms.Tensor(ref[f"to{k}_x"].astype(npdt)), ms.Tensor(ref[f"to{k}_w"].astype(npdt)))
        assert out.dtype == dtype
        _check(out.asnumpy(), ref[f"to{k}_out"], tol)
        _check(gx.asnumpy(), ref[f"to{k}_gx"], tol)
    for k, (res, lmax, norm, lmax_in) in enumerate(FROM_CASES):
        if not sample and k != 1:
            continue
        m = o3.FromS2Grid(res, lmax, normalization=norm, lmax_in=lmax_in, dtype=dtype)
        out, gx = _WithGrad(m)(ms.Tensor(ref[f"from{k}_x"].astype(npdt)),
                               ms.Tensor(ref[f"from{k}_w"].astype(npdt)))
        _check(out.asnumpy(), ref[f"from{k}_out"], tol)
        _check(gx.asnumpy(), ref[f"from{k}_gx"], tol)


@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
def test_to_and_from_are_inverse(normalization):
    x = np.random.default_rng(0).standard_normal((3, 49))
    to = o3.ToS2Grid(6, (14, 15), normalization=normalization, dtype=ms.float64)
    back = o3.FromS2Grid((14, 15), 6, normalization=normalization, dtype=ms.float64)
    np.testing.assert_allclose(back(to(ms.Tensor(x))).asnumpy(), x, atol=1e-12)


def _sh_numpy(lmax, xyz):
    """Y^l(x) from the grid factors P(cos beta) S(alpha), beta the angle to +y and alpha = atan2(x, z)."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    beta = np.arccos(np.clip(y, -1, 1))
    alpha = np.arctan2(x, z)
    p = legendre_np(list(range(lmax + 1)), np.cos(beta), np.sin(beta))
    s = spherical_harmonics_alpha_np(lmax, alpha)
    return np.concatenate([p[..., l * l:(l + 1) ** 2] * s[..., lmax - l:lmax + l + 1] for l in range(lmax + 1)], -1)


def test_grid_values_are_spherical_harmonics_and_equivariant():
    lmax = 3
    m = o3.ToS2Grid(lmax, (8, 9), normalization="integral", dtype=ms.float64)
    eye = m(ms.Tensor(np.eye(16))).asnumpy()  # (i, beta, alpha): Y_i on the grid
    sh = _sh_numpy(lmax, m.grid.asnumpy())  # (beta, alpha, i)
    np.testing.assert_allclose(np.moveaxis(eye, 0, -1), sh, atol=1e-12)
    # Y(R x) = D(R) Y(x), with R = D^1 (in e3nn's convention D^1 is the rotation matrix of (x, y, z))
    rng = np.random.default_rng(1)
    abc = rng.uniform(0, 2 * np.pi, 3)
    r = wigner_D(1, *abc)
    xyz = rng.standard_normal((5, 3))
    xyz /= np.linalg.norm(xyz, axis=1, keepdims=True)
    rxyz = xyz @ r.T
    d = np.zeros((16, 16))
    for l in range(lmax + 1):
        d[l * l:(l + 1) ** 2, l * l:(l + 1) ** 2] = wigner_D(l, *abc)
    np.testing.assert_allclose(_sh_numpy(lmax, rxyz), _sh_numpy(lmax, xyz) @ d.T, atol=1e-12)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: o3.ToS2Grid(3, (8, 9), normalization="foo"), "normalization"),
        (lambda: o3.ToS2Grid(3, (7, 9)), "res_beta must be even"),
        (lambda: o3.ToS2Grid(5, (8, 9)), "too small"),
        (lambda: o3.FromS2Grid((8, 9, 3), 3), "res must be"),
        (lambda: o3.ToS2Grid(None, None), "both None"),
        (lambda: o3.ToS2Grid(-1, 8), "lmax"),
        (lambda: o3.ToS2Grid(2, 6, normalization=np.ones(2)), "shape"),
        (lambda: o3.s2_grid(0, 3), "res_beta"),
        (lambda: o3.irfft(ms.ops.ones((2, 5), ms.float32), 4), "odd"),
    ],
)
def test_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_input_shapes():
    with pytest.raises(ValueError, match=r"\(\.\.\., 16\)"):
        o3.ToS2Grid(3, (8, 9))(ms.ops.ones((2, 9), ms.float32))
    with pytest.raises(ValueError, match=r"\(\.\.\., 8, 9\)"):
        o3.FromS2Grid((8, 9), 3)(ms.ops.ones((2, 8, 8), ms.float32))


def test_normalization_array():
    n = np.array([1.0, 2.0, 3.0])
    a = o3.ToS2Grid(2, 6, normalization=n, dtype=ms.float64)
    b = o3.ToS2Grid(2, 6, normalization="integral", dtype=ms.float64)
    x = np.random.default_rng(2).standard_normal(9)
    scaled = x * np.repeat(n, [1, 3, 5])
    np.testing.assert_allclose(a(ms.Tensor(x)).asnumpy(), b(ms.Tensor(scaled)).asnumpy(), atol=1e-12)
