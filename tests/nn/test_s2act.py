"""Tests of nn.S2Activation: e3nn 0.6.0 parity (irreps_out, outputs, input gradients), approximate equivariance
at high resolution, graph and PyNative, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn as msnn, ops

from mindchemistry_e3 import io, nn, o3
from mindchemistry_e3.o3._so3_np import wigner_D

CASES = {  # name -> (irreps, act, res, normalization, lmax_out)
    "tanh": (io.SphericalTensor(2, 1, -1), ops.tanh, 10, "component", None),
    "silu_norm": (io.SphericalTensor(2, 1, 1), ops.silu, 12, "norm", 3),
    "odd_tanh": (io.SphericalTensor(2, -1, -1), ops.tanh, 10, "component", 1),
    "odd_abs": (io.SphericalTensor(1, -1, 1), ops.abs, 8, "component", None),
}


class _WithGrad(msnn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ms.grad(self._loss, grad_position=0)

    def _loss(self, x, w):
        return (self.net(x) * w).sum()

    def construct(self, x, w):
        return self.net(x), self.grad(x, w)


@pytest.mark.parametrize("dtype", [ms.float64, ms.float32])
def test_matches_e3nn(mode, dtype, e3nn_fixture):
    ref = e3nn_fixture("s2grid_act")
    npdt = np.float64 if dtype == ms.float64 else np.float32
    tol = 1e-10 if dtype == ms.float64 else 1e-5
    for name, (irreps, act, res, norm, lmax_out) in CASES.items():
        if mode == "graph" and dtype == ms.float32 and name != "silu_norm":
            continue
        m = nn.S2Activation(irreps, act, res, normalization=norm, lmax_out=lmax_out, dtype=dtype)
        assert str(m.irreps_out) == str(ref[f"s2_{name}_irreps_out"])
        x = ms.Tensor(ref[f"s2_{name}_x"].astype(npdt))
        w = ms.Tensor(ref[f"s2_{name}_w"].astype(npdt))
        out, gx = _WithGrad(m)(x, w)
        assert out.dtype == dtype
        for a, b in ((out, ref[f"s2_{name}_out"]), (gx, ref[f"s2_{name}_gx"])):
            np.testing.assert_allclose(a.asnumpy(), b, atol=tol * max(1.0, np.abs(b).max()), rtol=0, err_msg=name)


@pytest.mark.parametrize("parity", [1, -1])
def test_equivariance(parity):
    """Equivariant up to the grid's aliasing: the error shrinks as the resolution grows."""
    irreps = io.SphericalTensor(2, 1, -1)
    rng = np.random.default_rng(0)
    abc = rng.uniform(0, 2 * np.pi, 3)

    def d_of(irr):
        d = np.zeros((irr.dim, irr.dim))
        for s, (_, ir) in zip(irr.slices(), irr):
            d[s, s] = wigner_D(ir.l, *abc) * (ir.p if parity == -1 else 1)
        return d

    x = rng.standard_normal((3, irreps.dim))
    errors = []
    for res in (10, 40):
        m = nn.S2Activation(irreps, ops.tanh, res, dtype=ms.float64)
        out = m(ms.Tensor(x)).asnumpy()
        out_rot = m(ms.Tensor(x @ d_of(irreps).T)).asnumpy()
        errors.append(np.abs(out_rot - out @ d_of(m.irreps_out).T).max())
    assert errors[1] < 1e-3 and errors[1] < errors[0] / 10, errors


def test_random_rot(mode):
    """A random rotation per call: different outputs at low resolution, the same function at high resolution."""
    irreps = io.SphericalTensor(2, 1, 1)
    x = ms.Tensor(np.random.default_rng(1).standard_normal((2, irreps.dim)))
    fixed = nn.S2Activation(irreps, ops.tanh, 40, dtype=ms.float64)(x).asnumpy()
    rand = nn.S2Activation(irreps, ops.tanh, 40, random_rot=True, dtype=ms.float64)(x).asnumpy()
    np.testing.assert_allclose(rand, fixed, atol=1e-6)
    low = nn.S2Activation(irreps, ops.tanh, 10, random_rot=True, dtype=ms.float64)
    assert np.abs(low(x).asnumpy() - low(x).asnumpy()).max() > 1e-6


def test_bad_input():
    with pytest.raises(ValueError, match="one copy of each l"):
        nn.S2Activation("0e + 2x1o", ops.tanh, 10)
    with pytest.raises(ValueError, match="one copy of each l"):
        nn.S2Activation("0e + 2e", ops.tanh, 10)
    with pytest.raises(ValueError, match="not well defined"):
        nn.S2Activation("0e + 1e + 2o", ops.tanh, 10)
    with pytest.raises(ValueError, match="parity would be violated"):
        nn.S2Activation(io.SphericalTensor(1, -1, 1), ops.silu, 10)
    m = nn.S2Activation(io.SphericalTensor(1, 1, 1), ops.tanh, 8)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        m(ms.ops.ones((2, 5), ms.float32))
    assert o3.Irreps(m.irreps_in) == o3.Irreps("0e+1e")
