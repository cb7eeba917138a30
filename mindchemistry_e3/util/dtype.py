"""dtype helpers shared by every module: the default dtype, MindSpore dtype <-> numpy dtype, constants as Tensors.

Every ``dtype=`` argument of the library defaults to ``None``, meaning :func:`get_default_dtype` at the time the
object is built (float32 unless :func:`set_default_dtype` changed it) -- the role ``torch.set_default_dtype``
plays for e3nn code.

Constants (CG tables, generators, normalisation factors) are built in numpy float64 and cast once to the
dtype the caller asked for, so float64 results stay accurate to float64 (a bare Python float times a float64
Tensor is rounded to float32 by MindSpore 2.10).

>>> import numpy as np, mindspore as ms
>>> to_numpy_dtype(ms.float64)
<class 'numpy.float64'>
>>> constant(np.eye(2), ms.float32).dtype
mindspore.float32
>>> get_default_dtype()
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

_DEFAULT_DTYPE = [ms.float32]


def set_default_dtype(dtype):
    """Set the dtype that every ``dtype=None`` of the library means from now on (``torch.set_default_dtype``).

    Args:
        dtype (mindspore.dtype): float16, bfloat16, float32 or float64.

    Examples:
        >>> import mindspore as ms
        >>> set_default_dtype(ms.float64); get_default_dtype()
        mindspore.float64
        >>> set_default_dtype(ms.float32)
    """
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"set_default_dtype: dtype must be one of float16, bfloat16, float32, float64; got {dtype}")
    _DEFAULT_DTYPE[0] = dtype


def get_default_dtype():
    """The dtype that ``dtype=None`` means (float32 unless :func:`set_default_dtype` was called)."""
    return _DEFAULT_DTYPE[0]


def to_numpy_dtype(dtype):
    """The numpy dtype that holds values of MindSpore ``dtype`` (bfloat16 -> float32)."""
    if dtype == ms.bfloat16:
        return np.float32
    if dtype not in _MS_TO_NP:
        raise ValueError(f"unsupported dtype {dtype}; expected one of {list(_MS_TO_NP)}")
    return _MS_TO_NP[dtype]


def check_float_dtype(dtype):
    """``dtype``, or the default dtype for None; a ValueError unless it is a MindSpore floating dtype."""
    if dtype is None:
        return _DEFAULT_DTYPE[0]
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be one of float16, bfloat16, float32, float64; got {dtype}")
    return dtype


def constant(array, dtype=None):
    """A MindSpore Tensor constant of ``dtype`` (default: the default dtype) from a numpy array (float64)."""
    array = np.asarray(array)
    if dtype is None:
        dtype = _DEFAULT_DTYPE[0]
    if dtype == ms.bfloat16:
        return ms.Tensor(array.astype(np.float32), ms.float32).astype(ms.bfloat16)
    return ms.Tensor(array.astype(to_numpy_dtype(dtype)), dtype)


def torch_get_default_device():
    """e3nn's ``torch_get_default_device``: here the MindSpore device target (``'CPU'``, ``'Ascend'``, ...) that new
    Tensors go to (set with ``mindspore.set_device``).

    >>> torch_get_default_device() in ("CPU", "Ascend", "GPU")
    True
    """
    return ms.get_context("device_target")


def torch_get_default_tensor_type():
    """e3nn's ``torch_get_default_tensor_type``: here the name of the default dtype, e.g. ``'mindspore.float32'``.

    >>> torch_get_default_tensor_type()
    'mindspore.float32'
    """
    return f"mindspore.{get_default_dtype()}".lower()


def explicit_default_types(dtype, device):
    """e3nn's resolver: ``(dtype or the default dtype, device or the default device target)``.

    Args:
        dtype (mindspore.dtype, optional): a floating dtype, or None for :func:`get_default_dtype`.
        device (optional): returned as given, or :func:`torch_get_default_device` for None (MindSpore places
            Tensors on the device chosen with ``mindspore.set_device``; there is no per-Tensor device).

    >>> explicit_default_types(None, None)
    (mindspore.float32, 'CPU')
    """
    return check_float_dtype(dtype), torch_get_default_device() if device is None else device
