"""Tests of io.CartesianTensor: e3nn 0.6.0 parity (irreps, from/to Cartesian, from vectors), inverse on
symmetric tensors, equivariance, bad input."""
import json

import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3 import io, o3
from mindchemistry_e3.o3._so3_np import wigner_D


def _formulas(ref):
    return json.loads(str(ref["formulas"]))


@pytest.mark.parametrize("dtype", [ms.float64, ms.float32])
def test_matches_e3nn(dtype, e3nn_fixture):
    ref = e3nn_fixture("reduce_io_cartesian")
    npdt = np.float64 if dtype == ms.float64 else np.float32
    tol = 1e-10 if dtype == ms.float64 else 1e-5
    for k, formula in enumerate(_formulas(ref)):
        ct = io.CartesianTensor(formula)
        assert str(o3.Irreps(ct)) == str(ref[f"{k}_irreps_str"])
        assert isinstance(ct, o3.Irreps) and ct.formula == formula
        y = ct.from_cartesian(ms.Tensor(ref[f"{k}_cart"].astype(npdt)))
        assert y.dtype == dtype
        np.testing.assert_allclose(y.asnumpy(), ref[f"{k}_from_cartesian"], atol=tol * 10, rtol=0)
        t = ct.to_cartesian(ms.Tensor(ref[f"{k}_irreps"].astype(npdt)))
        assert t.shape == ref[f"{k}_to_cartesian"].shape
        np.testing.assert_allclose(t.asnumpy(), ref[f"{k}_to_cartesian"], atol=tol * 10, rtol=0)
        vs = [ms.Tensor(ref[f"{k}_v{i}"].astype(npdt)) for i in range(len(ct.indices))]
        np.testing.assert_allclose(ct.from_vectors(*vs).asnumpy(), ref[f"{k}_from_vectors"], atol=tol * 10, rtol=0)


def test_to_cartesian_inverts_on_symmetric_tensors():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 3, 3, 3))
    # symmetrise under ij=ji, kl=lk, ij<->kl (the elasticity tensor)
    a = a + a.transpose(0, 2, 1, 3, 4)
    a = a + a.transpose(0, 1, 2, 4, 3)
    a = a + a.transpose(0, 3, 4, 1, 2)
    ct = io.CartesianTensor("ijkl=jikl=ijlk=klij")
    assert ct.dim == 21
    back = ct.to_cartesian(ct.from_cartesian(ms.Tensor(a))).asnumpy()
    np.testing.assert_allclose(back, a, atol=1e-12)


def test_equivariance():
    """from_cartesian(R T R^T) = D(R) from_cartesian(T) for a rank-2 tensor (parity included via -R)."""
    rng = np.random.default_rng(3)
    abc = rng.uniform(0, 2 * np.pi, 3)
    r = wigner_D(1, *abc)  # in e3nn's convention D^1 is the rotation matrix acting on (x, y, z)
    ct = io.CartesianTensor("ij")
    t = rng.standard_normal((3, 3))
    for sign in (1, -1):
        rs = sign * r
        y = ct.from_cartesian(ms.Tensor(t)).asnumpy()
        y_rot = ct.from_cartesian(ms.Tensor(rs @ t @ rs.T)).asnumpy()
        d = np.zeros((9, 9))
        i = 0
        for mul, ir in ct:
            for _ in range(mul):
                d[i:i + ir.dim, i:i + ir.dim] = wigner_D(ir.l, *abc) * (ir.p if sign == -1 else 1)
                i += ir.dim
        np.testing.assert_allclose(y_rot, d @ y, atol=1e-12)


def test_reduced_tensor_products_dtype():
    ct = io.CartesianTensor("ij=-ji")
    rtp = ct.reduced_tensor_products(ms.Tensor(np.zeros(3)))
    assert rtp.change_of_basis.dtype == ms.float64
    assert rtp.irreps_out == o3.Irreps("1e")
    y = ct.from_cartesian(ms.Tensor(np.eye(3)), rtp=rtp)
    np.testing.assert_allclose(y.asnumpy(), 0.0, atol=1e-15)


def test_bad_input():
    with pytest.raises(ValueError, match="not a permutation"):
        io.CartesianTensor("ij=jk")
    with pytest.raises(ValueError, match="non-empty string"):
        io.CartesianTensor("")
    ct = io.CartesianTensor("ij=ji")
    with pytest.raises(ValueError, match=r"expects data of shape \(\.\.\., 3, 3\)"):
        ct.from_cartesian(ms.ops.ones((2, 3), ms.float32))
    with pytest.raises(ValueError, match=r"expects data of shape \(\.\.\., 6\)"):
        ct.to_cartesian(ms.ops.ones((2, 5), ms.float32))


def test_integer_and_numpy_data():
    """Integer data is converted to the default dtype (Q is irrational), not truncated to zeros."""
    x = io.CartesianTensor("ij=ji")
    t = np.arange(9).reshape(3, 3)
    expected = x.from_cartesian(ms.Tensor(t, ms.float32)).asnumpy()
    got = x.from_cartesian(ms.Tensor(t, ms.int32))
    assert got.dtype == ms.float32 and np.abs(expected).max() > 1
    np.testing.assert_allclose(got.asnumpy(), expected)
    np.testing.assert_allclose(x.from_cartesian(t).asnumpy(), expected, rtol=1e-6)   # numpy int64 too
    back = x.to_cartesian(ms.Tensor(np.array([3, 0, 0, 0, 0, 0]), ms.int64))
    np.testing.assert_allclose(back.asnumpy(), np.sqrt(3) * np.eye(3), rtol=1e-6)
    assert x.reduced_tensor_products(ms.Tensor(t, ms.int32)).change_of_basis.dtype == ms.float32
