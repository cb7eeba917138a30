"""math.direct_sum / orthonormalize / complete_basis (numpy, plan time): e3nn 0.6.0 parity and properties."""
import numpy as np
import pytest

from mindchemistry_e3.math import complete_basis, direct_sum, orthonormalize


def test_matches_e3nn(e3nn_fixture):
    ref = e3nn_fixture("math_linalg")
    final, matrix = orthonormalize(ref["a"])
    np.testing.assert_allclose(final, ref["final"], atol=1e-12)
    np.testing.assert_allclose(matrix, ref["matrix"], atol=1e-12)
    np.testing.assert_allclose(complete_basis(ref["complete_in"]), ref["complete_out"], atol=1e-12)
    np.testing.assert_array_equal(direct_sum(ref["ds_a"], ref["ds_b"]), ref["ds_out"])


def test_properties():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 5))
    a = np.concatenate([a, a[:1] - a[2:3]])
    final, matrix = orthonormalize(a)
    assert final.shape == (3, 5)
    np.testing.assert_allclose(final @ final.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(matrix @ a, final, atol=1e-12)
    comp = complete_basis(final)
    full = np.concatenate([final, comp])
    np.testing.assert_allclose(full @ full.T, np.eye(5), atol=1e-12)
    assert complete_basis(np.eye(3)).shape == (0, 3)


def test_bad_input():
    with pytest.raises(ValueError, match="2-d"):
        orthonormalize(np.ones(3))
    with pytest.raises(ValueError, match="2-d"):
        complete_basis(np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="shape"):
        direct_sum(np.ones((2, 2)), np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="at least one"):
        direct_sum()


def test_tensors_in_tensors_out():
    """Like e3nn's, the helpers return Tensors (of the input's dtype) for Tensors."""
    import mindspore as ms

    a, b = ms.Tensor(np.ones((1, 2)), ms.float32), ms.Tensor(2 * np.ones((2, 1)), ms.float32)
    out = direct_sum(a, b)
    assert isinstance(out, ms.Tensor) and out.dtype == ms.float32
    np.testing.assert_array_equal(out.asnumpy(), direct_sum(np.ones((1, 2)), 2 * np.ones((2, 1))))
    final, matrix = orthonormalize(ms.Tensor(np.array([[1.0, 1.0], [0.0, 1.0]]), ms.float64))
    assert isinstance(final, ms.Tensor) and final.dtype == ms.float64 and matrix.shape == (2, 2)
    assert complete_basis(ms.Tensor(np.eye(3)[:1], ms.float64)).shape == (2, 3)
