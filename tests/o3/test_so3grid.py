"""Tests of o3.SO3Grid: e3nn 0.6.0 parity (tables, to_grid, from_grid), round trip, graph and PyNative, bad input."""
import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3 import o3


def test_matches_e3nn(mode, e3nn_fixture):
    ref = e3nn_fixture("s2grid_so3")
    g = o3.SO3Grid(1, 2, dtype=ms.float64)
    np.testing.assert_allclose(g.D.asnumpy(), ref["D"], atol=1e-12)
    np.testing.assert_allclose(g.qw.asnumpy(), ref["qw"], atol=1e-14)
    np.testing.assert_allclose(g(ms.Tensor(ref["to_x"])).asnumpy(), ref["to_out"], atol=1e-10)
    np.testing.assert_allclose(g.to_grid(ms.Tensor(ref["to_x"])).asnumpy(), ref["to_out"], atol=1e-10)
    np.testing.assert_allclose(g.from_grid(ms.Tensor(ref["from_x"])).asnumpy(), ref["from_out"], atol=1e-10)
    g32 = o3.SO3Grid(1, 2)
    out = g32.from_grid(ms.Tensor(ref["from_x"].astype(np.float32))).asnumpy()
    np.testing.assert_allclose(out, ref["from_out"], atol=1e-5 * np.abs(ref["from_out"]).max())


def test_round_trip():
    g = o3.SO3Grid(2, 4, dtype=ms.float64)
    x = np.random.default_rng(0).standard_normal((2, g.dim))
    np.testing.assert_allclose(g.from_grid(g.to_grid(ms.Tensor(x))).asnumpy(), x, atol=1e-10)


def test_bad_input():
    with pytest.raises(ValueError, match="component"):
        o3.SO3Grid(1, 2, normalization="norm")
    with pytest.raises(ValueError, match="resolution"):
        o3.SO3Grid(1, 0)
    g = o3.SO3Grid(1, 2)
    with pytest.raises(ValueError, match=r"\(\.\.\., 10\)"):
        g.to_grid(ms.ops.ones((2, 9), ms.float32))
    with pytest.raises(ValueError, match=r"\(\.\.\., 8, 4, 8\)"):
        g.from_grid(ms.ops.ones((2, 8, 4, 7), ms.float32))
