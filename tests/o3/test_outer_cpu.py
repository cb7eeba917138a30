"""The fused CPU kernels of the row-wise outer product (o3._tensor_product._outer_cpu), TensorProduct.stack_features
on CPU: the kernels against numpy (values, the identities of a bilinear map's first and second order), the Cell
against the plain BatchMatMul in both modes, when it applies. (Second order inside a StackedSum force loss:
tests/o3/test_stacked_cpu.py.)"""
import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3 import o3
from mindchemistry_e3.o3._tensor_product._outer_cpu_np import outer_source
from mindchemistry_e3.util import native_kernels
from tests import native_calls
from tests.plan_isolation import imports_mindspore


def test_kernels_compute_the_outer_product():
    lib = native_calls.load(outer_source(5, 3), "outer_test")
    rng = np.random.default_rng(0)
    x, y, g = rng.normal(size=(19, 5)), rng.normal(size=(19, 3)), rng.normal(size=(19, 15))

    def outer(a, b):
        return (a[:, :, None] * b[:, None, :]).reshape(len(a), -1)

    native_calls.check_bilinear(lib, "outer", outer, x, y, g, rng, atol=1e-14, rtol=1e-13)


@pytest.mark.parametrize("dtype,npdt", [(ms.float64, np.float64), (ms.float32, np.float32)])
def test_stack_features_match_the_plain_product(mode, dtype, npdt):
    native_calls.skip_without_compiler()
    sc = o3.FullyConnectedTensorProduct("2x0e + 1x1o", "3x0e", "4x0e + 2x1o", dtype=dtype)
    with native_kernels(False):
        plain = o3.FullyConnectedTensorProduct("2x0e + 1x1o", "3x0e", "4x0e + 2x1o", dtype=dtype)
    assert sc._outer_native is not None and plain._outer_native is None  # pylint: disable=protected-access
    rng = np.random.default_rng(1)
    x, y = ms.Tensor(rng.normal(size=(7, 5)).astype(npdt)), ms.Tensor(rng.normal(size=(7, 3)).astype(npdt))
    np.testing.assert_allclose(sc.stack_features(x, y).asnumpy(), plain.stack_features(x, y).asnumpy(), rtol=1e-6)
    w = ms.Tensor(rng.normal(size=(7, 15)).astype(npdt))

    class Features(ms.nn.Cell):
        def __init__(self, tp):
            super().__init__()
            self.tp = tp

        def construct(self, a, b):
            return self.tp.stack_features(a, b)

    class Loss(ms.nn.Cell):
        def __init__(self, tp):
            super().__init__()
            self.f = Features(tp)

        def construct(self, a, b, c):
            return (self.f(a, b) * c).sum()

    got = ms.grad(Loss(sc), grad_position=(0, 1))(x, y, w)
    ref = ms.grad(Loss(plain), grad_position=(0, 1))(x, y, w)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-6)


def test_source():
    assert not imports_mindspore("mindchemistry_e3.o3._tensor_product._outer_cpu_np")
    with pytest.raises(ValueError, match="positive"):
        outer_source(0, 3)
