"""Tests of nn.SO3Activation: e3nn 0.6.0 parity (outputs, input gradients), graph and PyNative, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn as msnn, ops

from mindchemistry_e3 import nn


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
    m = nn.SO3Activation(1, 2, ops.tanh, 3, dtype=dtype)
    out, gx = _WithGrad(m)(ms.Tensor(ref["so3_x"].astype(npdt)), ms.Tensor(ref["so3_w"].astype(npdt)))
    assert out.shape == (2, 35) and out.dtype == dtype
    for a, b in ((out, ref["so3_out"]), (gx, ref["so3_gx"])):
        np.testing.assert_allclose(a.asnumpy(), b, atol=tol * max(1.0, np.abs(b).max()), rtol=0)


def test_bad_input():
    with pytest.raises(ValueError, match="component"):
        nn.SO3Activation(1, 1, ops.tanh, 3, normalization="norm")
    m = nn.SO3Activation(1, 1, ops.tanh, 2)
    with pytest.raises(ValueError, match=r"\(\.\.\., 10\)"):
        m(ms.ops.ones((2, 9), ms.float32))
