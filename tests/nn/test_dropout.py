"""Dropout: one Bernoulli draw per batch entry and irrep copy, scaled by 1/(1-p); identity in eval mode."""
import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3.nn import Dropout
from tests.nn.nn_testing import irreps_D, random_rotations

IRREPS = "3x0e + 2x1o + 2e"


def _masks(out, x, irreps_dims):
    """Per (batch, middle..., irrep copy) ratio out/x, checking it is constant within each copy."""
    ratio = out / x
    start, masks = 0, []
    for mul, d in irreps_dims:
        block = ratio[..., start:start + mul * d].reshape(ratio.shape[:-1] + (mul, d))
        np.testing.assert_allclose(block, block[..., :1].repeat(d, -1), rtol=1e-6)
        masks.append(block[..., 0])
        start += mul * d
    return np.concatenate(masks, -1)


def test_statistics_and_structure(mode):
    p = 0.3
    drop = Dropout(IRREPS, p)
    drop.set_train(True)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, (400, 2, 14)).astype(np.float32)
    out = drop(ms.Tensor(x)).asnumpy()
    masks = _masks(out, x, [(3, 1), (2, 3), (1, 5)])  # [batch, 2, 6]
    assert np.all(np.isclose(masks, 0.0) | np.isclose(masks, 1 / (1 - p), rtol=1e-6))
    # the same draw for every middle index (B_zai = x_zi A_zai)
    np.testing.assert_allclose(masks[:, 0], masks[:, 1], rtol=1e-6)
    frac = (masks[:, 0] == 0).mean()
    assert abs(frac - p) < 0.04
    # a fresh draw per call
    out2 = drop(ms.Tensor(x)).asnumpy()
    assert not np.array_equal(out, out2)


def test_eval_is_identity_and_edge_probabilities(mode):
    x = np.random.default_rng(1).standard_normal((5, 14))
    drop = Dropout(IRREPS, 0.5, dtype=ms.float64)
    drop.set_train(False)
    np.testing.assert_array_equal(drop(ms.Tensor(x)).asnumpy(), x)
    for p, expected in ((0.0, x), (1.0, np.zeros_like(x))):
        d = Dropout(IRREPS, p, dtype=ms.float64)
        d.set_train(True)
        np.testing.assert_array_equal(d(ms.Tensor(x)).asnumpy(), expected)


def test_equivariance(mode):
    # each irrep copy is multiplied by one scalar, so D(R) commutes with the mask: check D(R)-rotated input
    # gives a rotated output with a mask of the same structure
    drop = Dropout(IRREPS, 0.5, dtype=ms.float64)
    drop.set_train(True)
    x = np.random.default_rng(2).standard_normal((50, 14))
    for a, b, g, par in random_rotations(5):
        d = irreps_D(IRREPS, a, b, g, par)
        out = drop(ms.Tensor(x @ d.T)).asnumpy()
        back = out @ d  # undo the rotation: must be x times a per-copy mask
        masks = _masks(back, x, [(3, 1), (2, 3), (1, 5)])
        assert np.all(np.isclose(masks, 0.0, atol=1e-12) | np.isclose(masks, 2.0, rtol=1e-12))


def test_first_order_grad(mode):
    drop = Dropout(IRREPS, 0.5, dtype=ms.float64)
    drop.set_train(False)
    x = ms.Tensor(np.ones((2, 14)))
    np.testing.assert_array_equal(ms.grad(drop)(x).asnumpy(), np.ones((2, 14)))


def test_bad_input():
    with pytest.raises(ValueError, match="probability"):
        Dropout(IRREPS, "high")
    with pytest.raises(ValueError, match="last axis of size 14"):
        Dropout(IRREPS, 0.1)(ms.Tensor(np.zeros((2, 13)), ms.float32))
