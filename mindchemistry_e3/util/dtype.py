"""dtype helpers shared by every module: MindSpore dtype <-> numpy dtype, constants as Tensors.

Constants (CG tables, generators, normalisation factors) are built in numpy float64 and cast once to the
dtype the caller asked for, so float64 results stay accurate to float64 (a bare Python float times a float64
Tensor is rounded to float32 by MindSpore 2.10).

>>> import numpy as np, mindspore as ms
>>> to_numpy_dtype(ms.float64)
<class 'numpy.float64'>
>>> constant(np.eye(2), ms.float32).dtype
mindspore.float32
"""
import numpy as np
import mindspore as ms

_MS_TO_NP = {
    ms.float16: np.float16,
    ms.float32: np.float32,
    ms.float64: np.float64,
    ms.int32: np.int32,
    ms.int64: np.int64,
    ms.bool_: np.bool_,
}

FLOAT_DTYPES = (ms.float16, ms.bfloat16, ms.float32, ms.float64)


def to_numpy_dtype(dtype):
    """The numpy dtype that holds values of MindSpore ``dtype`` (bfloat16 -> float32)."""
    if dtype == ms.bfloat16:
        return np.float32
    if dtype not in _MS_TO_NP:
        raise ValueError(f"unsupported dtype {dtype}; expected one of {list(_MS_TO_NP)}")
    return _MS_TO_NP[dtype]


def check_float_dtype(dtype):
    """Raise a ValueError unless ``dtype`` is a MindSpore floating dtype; return it."""
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be one of float16, bfloat16, float32, float64; got {dtype}")
    return dtype


def constant(array, dtype=ms.float32):
    """A MindSpore Tensor constant of ``dtype`` built from a numpy array (computed in float64)."""
    array = np.asarray(array)
    if dtype == ms.bfloat16:
        return ms.Tensor(array.astype(np.float32), ms.float32).astype(ms.bfloat16)
    return ms.Tensor(array.astype(to_numpy_dtype(dtype)), dtype)
