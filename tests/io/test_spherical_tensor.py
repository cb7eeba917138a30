"""Tests of io.SphericalTensor: e3nn 0.6.0 parity of every method, parity/irreps, equivariance of signal_xyz,
bad input."""
import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3 import io, o3
from mindchemistry_e3.o3._so3_np import wigner_D


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(a, b, atol=tol * max(1.0, np.abs(b).max()), rtol=0)


def test_irreps():
    assert io.SphericalTensor(3, 1, 1) == o3.Irreps("0e+1e+2e+3e")
    assert io.SphericalTensor(3, 1, -1) == o3.Irreps("0e+1o+2e+3o")
    assert io.SphericalTensor(2, -1, -1) == o3.Irreps("0o+1e+2o")
    assert isinstance(io.SphericalTensor(1, 1, 1), o3.Irreps)


@pytest.mark.parametrize("dtype", [ms.float64, ms.float32])
def test_matches_e3nn(dtype, e3nn_fixture):
    ref = e3nn_fixture("s2grid_spherical_tensor")
    npdt = np.float64 if dtype == ms.float64 else np.float32
    tol = 1e-10 if dtype == ms.float64 else 1e-5
    s = io.SphericalTensor(2, 1, -1)
    pos, val = ms.Tensor(ref["pos"].astype(npdt)), ms.Tensor(ref["val"].astype(npdt))
    out = s.from_samples_on_s2(pos, val, res=20)
    assert out.dtype == dtype
    _close(out.asnumpy(), ref["from_samples"], tol)
    sig, r = ms.Tensor(ref["signal"].astype(npdt)), ms.Tensor(ref["r"].astype(npdt))
    _close(s.signal_xyz(sig, r).asnumpy(), ref["signal_xyz"], tol)
    _close(s.norms(sig).asnumpy(), ref["norms"], tol)
    _close(s.sum_of_diracs(pos, val).asnumpy(), ref["sum_of_diracs"], tol)
    grid, values = s.signal_on_grid(sig[0], res=10)
    _close(grid.asnumpy(), ref["on_grid_grid"], tol)
    _close(values.asnumpy(), ref["on_grid_values"], tol)
    s4 = io.SphericalTensor(4, 1, -1)
    peaks = ms.Tensor(ref["peaks"].astype(npdt))
    _close(s4.with_peaks_at(peaks).asnumpy(), ref["with_peaks_at"], tol)
    _close(s4.with_peaks_at(peaks, ms.Tensor(np.array([-1.5, 2.0], npdt))).asnumpy(), ref["with_peaks_at_val"], tol)
    r_plot, f_plot = s.plot(sig[0], center=ms.Tensor(np.array([1.0, 2.0, 3.0], npdt)), res=10, relu=True)
    _close(r_plot.asnumpy(), ref["plot_r"], tol)
    _close(f_plot.asnumpy(), ref["plot_f"], tol)


def test_find_peaks_matches_e3nn(e3nn_fixture):
    """Same peaks as e3nn (e3nn lists them in set order, so compare as sets)."""
    ref = e3nn_fixture("s2grid_spherical_tensor")
    s4 = io.SphericalTensor(4, 1, -1)
    pos, val = s4.find_peaks(s4.with_peaks_at(ms.Tensor([[4.0, 0.0, 4.0], [0.0, 5.0, 0.0]], ms.float64)), res=50)
    pos, val = pos.asnumpy(), val.asnumpy()
    assert pos.shape == ref["find_peaks_pos"].shape
    match = np.linalg.norm(pos[:, None] - ref["find_peaks_pos"][None], axis=-1).argmin(1)
    assert sorted(match.tolist()) == list(range(len(pos)))
    np.testing.assert_allclose(pos, ref["find_peaks_pos"][match], atol=1e-10)
    np.testing.assert_allclose(val, ref["find_peaks_val"][match], atol=1e-10)
    assert len(s4.plotly_surface(ms.Tensor(np.ones((2, s4.dim))), res=10)) == 2


def test_signal_xyz_equivariance():
    """f_{D A}(R x) = f_A(x): rotating the coefficients rotates the function."""
    s = io.SphericalTensor(3, 1, -1)
    rng = np.random.default_rng(0)
    abc = rng.uniform(0, 2 * np.pi, 3)
    a = rng.standard_normal(s.dim)
    d = np.zeros((s.dim, s.dim))
    for l in range(4):
        d[l * l:(l + 1) ** 2, l * l:(l + 1) ** 2] = wigner_D(l, *abc)
    x = rng.standard_normal((5, 3))
    rx = x @ wigner_D(1, *abc).T
    f = s.signal_xyz(ms.Tensor(a), ms.Tensor(x)).asnumpy()
    f_rot = s.signal_xyz(ms.Tensor(d @ a), ms.Tensor(rx)).asnumpy()
    np.testing.assert_allclose(f_rot, f, atol=1e-12)


def test_signal_xyz_gradients():
    s = io.SphericalTensor(2, 1, 1)
    rng = np.random.default_rng(1)
    r0 = rng.standard_normal((4, 3))
    sig0 = rng.standard_normal(9)
    g = ms.grad(lambda sig: s.signal_xyz(sig, ms.Tensor(r0)).sum())(ms.Tensor(np.ones(9)))
    np.testing.assert_allclose(g.asnumpy(), s.signal_xyz(ms.Tensor(np.eye(9)), ms.Tensor(r0)).asnumpy().sum(1),
                               atol=1e-12)
    gr = ms.grad(lambda r: s.signal_xyz(ms.Tensor(sig0), r).sum())(ms.Tensor(r0)).asnumpy()
    h = 1e-6
    fd = np.zeros_like(r0)
    for i in range(4):
        for j in range(3):
            rp, rm = r0.copy(), r0.copy()
            rp[i, j] += h
            rm[i, j] -= h
            fd[i, j] = (s.signal_xyz(ms.Tensor(sig0), ms.Tensor(rp)).asnumpy().sum()
                        - s.signal_xyz(ms.Tensor(sig0), ms.Tensor(rm)).asnumpy().sum()) / (2 * h)
    np.testing.assert_allclose(gr, fd, atol=1e-7)


def test_empty_inputs():
    s = io.SphericalTensor(2, 1, 1)
    out = s.from_samples_on_s2(ms.Tensor(np.zeros((2, 0, 10, 3))), ms.Tensor(np.zeros((2, 0, 10))))
    assert out.shape == (2, 0, 9)
    assert s.sum_of_diracs(ms.Tensor(np.zeros((1, 0, 2, 3))), ms.Tensor(np.zeros((2, 0, 1)))).shape == (2, 0, 9)


def test_bad_input():
    with pytest.raises(ValueError, match="lmax"):
        io.SphericalTensor(-1, 1, 1)
    with pytest.raises(ValueError, match="p_val"):
        io.SphericalTensor(2, 0, 1)
    s = io.SphericalTensor(2, 1, 1)
    with pytest.raises(ValueError, match=r"\(\.\.\., 9\)"):
        s.norms(ms.ops.ones((2, 8), ms.float32))
    with pytest.raises(ValueError, match=r"r of shape \(\.\.\., 3\)"):
        s.signal_xyz(ms.ops.ones(9, ms.float32), ms.ops.ones((2, 2), ms.float32))
    with pytest.raises(ValueError, match="p_val = 1"):
        io.SphericalTensor(2, -1, 1).with_peaks_at(ms.Tensor([[1.0, 0.0, 0.0]]))
