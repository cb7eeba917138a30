"""The fused CPU kernels of the output-stationary contraction (o3._tensor_product._contract_cpu), the last step of a
FullyConnectedTensorProduct with a spherical-harmonics-like second input on CPU: the kernels against numpy (values,
the identities of a bilinear map's first and second order), the tensor product with them against the plain
BatchMatMuls (values, first- and second-order gradients, float64, both modes), and their refusals."""
import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3 import o3
from mindchemistry_e3.o3._tensor_product._contract_cpu_np import MAX_BLOCK, contract_source, contract_support
from mindchemistry_e3.util import native_kernels
from tests import native_calls
from tests.plan_isolation import imports_mindspore


@pytest.mark.parametrize("k,n,w", [(5, 14, 32), (1, 9, 3), (3, 1, 7)])
def test_kernels_compute_the_contraction(k, n, w):
    lib = native_calls.load(contract_source(k, n, w), "contract_test")
    rng = np.random.default_rng(0)
    z = 19
    t, y, g = rng.normal(size=(z, k * n)), rng.normal(size=(z, n, w)), rng.normal(size=(z, w, k))

    def contract(a, b):
        return np.einsum("zkn,znw->zwk", a.reshape(z, k, n), b)

    native_calls.check_bilinear(lib, "contract", contract, t, y, g, rng)


class _Loss(ms.nn.Cell):
    """<ct, tp(x, y)>"""

    def __init__(self, tp):
        super().__init__()
        self.tp = tp

    def construct(self, x, y, ct):
        return (self.tp(x, y) * ct).sum()


class _GradNormLoss(ms.nn.Cell):
    """The squared gradient w.r.t. the inputs of <ct, tp(x, y)> (a force-like loss), differentiated again."""

    def __init__(self, tp):
        super().__init__()
        self.grad = ms.grad(_Loss(tp), grad_position=(0, 1))

    def construct(self, x, y, ct):
        gx, gy = self.grad(x, y, ct)
        return (gx * gx).sum() + (gy * gy).sum()


def test_fully_connected_product_matches_the_plain_batch_matmuls(mode):
    native_calls.skip_without_compiler()
    args = ("8x0e + 8x1o + 4x2e", "0e + 1o + 2e", "8x0e + 8x1o + 8x2e")
    tp = o3.FullyConnectedTensorProduct(*args, dtype=ms.float64)
    with native_kernels(False):
        plain = o3.FullyConnectedTensorProduct(*args, dtype=ms.float64)
    assert tp._contract_native is not None and plain._contract_native is None  # pylint: disable=protected-access
    plain.weight.set_data(tp.weight.data)
    rng = np.random.default_rng(2)
    x, y = ms.Tensor(rng.normal(size=(11, tp.irreps_in1.dim))), ms.Tensor(rng.normal(size=(11, 9)))
    ct = ms.Tensor(rng.normal(size=(11, tp.irreps_out.dim)))
    np.testing.assert_allclose(tp(x, y).asnumpy(), plain(x, y).asnumpy(), rtol=0, atol=1e-12)
    pairs = [[ms.grad(_Loss(m), grad_position=(0, 1), weights=m.trainable_params())(x, y, ct) for m in (tp, plain)]]
    if ms.get_context("mode") == ms.GRAPH_MODE:  # second order is right in graph mode only (MINDSPORE_NOTES)
        pairs.append([ms.grad(_GradNormLoss(m), grad_position=(0, 1), weights=m.trainable_params())(x, y, ct)
                      for m in (tp, plain)])
    for (gin_a, gw_a), (gin_b, gw_b) in pairs:
        for a, b in zip(gin_a + gw_a, gin_b + gw_b):
            np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-10, atol=1e-11)


def test_empty_batch_and_refusals():
    native_calls.skip_without_compiler()
    tp = o3.FullyConnectedTensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o", dtype=ms.float64)
    assert tp(np.zeros((0, 8)), np.zeros((0, 4))).shape == (0, 8)
    assert "positive" in contract_support(0, 3, 4)
    assert "above" in contract_support(MAX_BLOCK, 1, 2)
    with pytest.raises(ValueError, match="above"):
        contract_source(MAX_BLOCK, 1, 2)
    assert not imports_mindspore("mindchemistry_e3.o3._tensor_product._contract_cpu_np")
