"""The default dtype: every ``dtype=None`` of the library follows ``set_default_dtype`` (e3nn code relies on
``torch.set_default_dtype``)."""
import numpy as np
import mindspore as ms
import pytest

import mindchemistry_e3 as e3
from mindchemistry_e3 import nn as e3nn
from mindchemistry_e3 import o3
from mindchemistry_e3.util.dtype import check_float_dtype, constant


@pytest.fixture
def float64_default():
    e3.set_default_dtype(ms.float64)
    yield
    e3.set_default_dtype(ms.float32)


def test_default_is_float32():
    assert e3.get_default_dtype() == ms.float32
    assert check_float_dtype(None) == ms.float32
    assert constant(np.ones(2)).dtype == ms.float32


def test_set_default_dtype_reaches_cells_and_functions(float64_default):
    assert o3.Linear("2x0e + 1o", "3x0e + 1o").weight.dtype == ms.float64
    tp = o3.FullyConnectedTensorProduct("2x0e", "1o", "1o")
    assert tp.weight.dtype == ms.float64
    assert e3nn.FullyConnectedNet([2, 3]).dtype == ms.float64
    assert o3.wigner_3j(1, 1, 0).dtype == ms.float64
    assert o3.rand_matrix(seed=0).dtype == ms.float64
    assert o3.Irreps("1o").randn(2, -1, seed=0).dtype == ms.float64
    assert o3.su2_generators(1).dtype == ms.complex128
    x = o3.Irreps("2x0e").randn(4, -1, seed=1)
    y = o3.Irreps("1o").randn(4, -1, seed=2)
    assert tp(x, y).dtype == ms.float64


def test_explicit_dtype_wins(float64_default):
    assert o3.Linear("2x0e", "2x0e", dtype=ms.float32).weight.dtype == ms.float32


def test_bad_default_dtype_is_refused():
    with pytest.raises(ValueError, match="set_default_dtype"):
        e3.set_default_dtype(ms.int32)
    assert e3.get_default_dtype() == ms.float32


def test_torch_default_type_helpers():
    import mindspore as ms
    from mindchemistry_e3 import util

    assert util.explicit_default_types(None, None) == (util.dtype.get_default_dtype(), util.torch_get_default_device())
    assert util.explicit_default_types(ms.float64, "CPU") == (ms.float64, "CPU")
    assert util.torch_get_default_tensor_type() == "mindspore.float32"
    assert util.prod([2, 3, 4]) == 24 and util.prod([]) == 1
