"""Extract / ExtractIr / Identity: e3nn parity, equivariance, bad input, both modes."""
import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3.nn._extract import Extract, ExtractIr
from mindchemistry_e3.nn._identity import Identity
from tests.nn.nn_testing import irreps_D, random_rotations


def test_matches_e3nn(mode, e3nn_fixture):
    f = e3nn_fixture("nn_layers_extract")
    irreps = "2x0e + 1o + 3x0e + 2e + 1o"
    c = Extract(irreps, ["1o + 2x0e", "3x0e + 2e", "1o"], [(1, 0), (2, 3), (4,)], dtype=ms.float64)
    outs = c(ms.Tensor(f["x"]))
    assert isinstance(outs, tuple) and len(outs) == 3
    for k in range(3):
        np.testing.assert_allclose(outs[k].asnumpy(), f[f"out{k}"], rtol=0, atol=0)
    e = ExtractIr(irreps, "1o")
    assert repr(e.irreps_out) == str(f["ir_irreps_out"])
    np.testing.assert_allclose(e(ms.Tensor(f["x"])).asnumpy(), f["ir_out"], rtol=0, atol=0)


def test_full_copy_and_float32(mode):
    c = Extract("0e + 1o", ["0e + 1o"], [(0, 1)])
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    (out,) = c(ms.Tensor(x))
    assert out.dtype == ms.float32
    np.testing.assert_array_equal(out.asnumpy(), x)


def test_equivariance(mode):
    irreps_in = "2x0e + 1o + 3x0e + 2e + 1o"
    c = Extract(irreps_in, ["1o + 2x0e", "2e"], [(4, 0), (3,)])
    x = np.random.default_rng(1).standard_normal((3, 16))
    for a, b, g, par in random_rotations(2):
        d_in = irreps_D(irreps_in, a, b, g, par)
        outs = c(ms.Tensor(x))
        outs_rot = c(ms.Tensor(x @ d_in.T))
        for irreps_out, o, orot in zip(c.irreps_outs, outs, outs_rot):
            d_out = irreps_D(irreps_out, a, b, g, par)
            np.testing.assert_allclose(orot.asnumpy(), o.asnumpy() @ d_out.T, atol=1e-12)


def test_first_order_grad(mode):
    c = Extract("0e + 1o + 0e", ["0e + 0e"], [(0, 2)], squeeze_out=True, dtype=ms.float64)
    w = ms.Tensor(np.array([2.0, 3.0]))

    def loss(x):
        return (c(x) * w).sum()

    grad = ms.grad(loss)(ms.Tensor(np.ones((2, 5))))
    np.testing.assert_array_equal(grad.asnumpy(), [[2, 0, 0, 0, 3]] * 2)


def test_bad_input():
    with pytest.raises(ValueError, match="instructions"):
        Extract("0e + 1o", ["0e", "1o"], [(0,)])
    with pytest.raises(ValueError, match="1x1o"):
        Extract("0e + 1o", ["1e"], [(1,)])
    with pytest.raises(ValueError, match="out of range"):
        Extract("0e + 1o", ["1o"], [(2,)])
    with pytest.raises(ValueError, match="names 2"):
        Extract("0e + 1o", ["1o"], [(1, 0)])
    c = Extract("0e + 1o", ["1o"], [(1,)])
    with pytest.raises(ValueError, match="last axis of size 4"):
        c(ms.Tensor(np.zeros((2, 5)), ms.float32))


def test_identity(mode):
    ident = Identity("0e + 0e + 1o", "2x0e + 1o")
    x = ms.Tensor(np.arange(5.0), ms.float32)
    np.testing.assert_array_equal(ident(x).asnumpy(), np.arange(5.0))
    assert repr(ident.irreps_out) == "2x0e+1x1o"
    with pytest.raises(ValueError, match="differ"):
        Identity("0e + 1o", "1o + 0e")
    with pytest.raises(ValueError, match="last axis"):
        ident(ms.Tensor(np.zeros(4), ms.float32))


def test_empty_output(mode):
    c = Extract("0e + 1o", ["", "1o"], [(), (1,)])
    empty, vec = c(ms.Tensor(np.arange(8.0).reshape(2, 4), ms.float32))
    assert empty.shape == (2, 0)
    np.testing.assert_array_equal(vec.asnumpy(), [[1, 2, 3], [5, 6, 7]])
