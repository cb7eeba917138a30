r"""The compute dtype of the big products: MatMul / BatchMatMul operands in float16 or bfloat16, everything else in
the Cell's ``dtype``.

The precision policy of the library (every Cell that has big products takes ``compute_dtype=``):

- ``dtype`` (float32 by default) is the dtype of the parameters, the inputs, the outputs and every sum that is not
  a matrix product: sums over paths, neighbours (``segment_sum``) and atoms, biases, gates, normalisations.
- ``compute_dtype`` (None, ``mindspore.float16`` or ``mindspore.bfloat16``) is the dtype of the **operands** of
  the MatMul / BatchMatMul kernels of :class:`~mindchemistry_e3.o3.TensorProduct` (and its subclasses),
  :class:`~mindchemistry_e3.o3.TensorProductConv`, :class:`~mindchemistry_e3.o3.Linear`,
  :class:`~mindchemistry_e3.o3.SphericalHarmonics` (its polynomial products; the norm of the input stays in
  ``dtype``) and :class:`~mindchemistry_e3.nn.FullyConnectedNet`. Each product's result is cast back to ``dtype``
  at once, so what follows it runs in ``dtype``. This is the numerics of Ascend's cube units, which take
  float16 / bfloat16 operands and accumulate in float32.
- Constants (Clebsch-Gordan tables, spherical-harmonic coefficients, path and fan-in normalisations) are built
  in numpy float64 and stored in ``dtype``: the path weights multiply the parameters in ``dtype`` before a
  product, and the tables are rounded to ``compute_dtype`` only where they enter a MatMul as an operand (a real
  CG coefficient in float16 is exact to 2^-11 relative, the operand rounding the hardware imposes anyway);
  exact 0/1 selection tables stay exact in both half formats.

How a product runs (decided once, when the Cell is built, from ``mindspore.get_context("device_target")``):

- ``"native"``: the operands are cast to ``compute_dtype``, the kernel runs in it, its result is cast to
  ``dtype``. float16 everywhere (MindSpore 2.10's CPU has float16 MatMul / BatchMatMul kernels), bfloat16 on
  Ascend and GPU.
- ``"emulated"``: bfloat16 on CPU, which has no bfloat16 MatMul ("Select CPU operator[MatMul] fail! Unsupported
  data type!"): the operands are rounded to bfloat16 (a cast there and back) and multiplied in float32, which is
  Ascend's bfloat16 arithmetic (bfloat16 operands, float32 accumulation) on a CPU, then cast to ``dtype``.

>>> import mindspore as ms
>>> check_compute_dtype(ms.float16, ms.float32, "Linear"), check_compute_dtype(None, ms.float32, "Linear")
(mindspore.float16, None)
>>> product_mode(ms.bfloat16, "CPU"), product_mode(ms.bfloat16, "Ascend"), product_mode(ms.float16, "CPU")
('emulated', 'native', 'native')
"""
import re
import sys

import mindspore as ms
from mindspore import nn, ops

__all__ = ["COMPUTE_DTYPES", "check_compute_dtype", "product_mode", "LowPrecisionProduct", "low_precision",
           "compute_dtype_hint", "refuse_amp_rewrite", "RefuseAmpRewrite", "AMP_O1_MESSAGE"]

COMPUTE_DTYPES = (ms.float16, ms.bfloat16)

_NAMES = {"float16": ms.float16, "fp16": ms.float16, "half": ms.float16, "bfloat16": ms.bfloat16,
          "bf16": ms.bfloat16}


def check_compute_dtype(compute_dtype, dtype, name):
    """``compute_dtype`` as a MindSpore dtype, or None when the products run in ``dtype`` (None given, or
    ``compute_dtype`` equal to ``dtype``); a ValueError naming the module ``name`` otherwise.

    Args:
        compute_dtype (Union[None, mindspore.dtype, str]): ``None``, ``mindspore.float16`` / ``mindspore.bfloat16``
            or their names (``"float16"``, ``"bfloat16"``).
        dtype (mindspore.dtype): the Cell's dtype.
        name (str): the module's name for the error.
    """
    if compute_dtype is None:
        return None
    if isinstance(compute_dtype, str):
        if compute_dtype.lower() not in _NAMES:
            raise ValueError(f"{name}: compute_dtype must be None, float16 or bfloat16, got {compute_dtype!r}")
        compute_dtype = _NAMES[compute_dtype.lower()]
    if compute_dtype == dtype:
        return None
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"{name}: compute_dtype must be None, mindspore.float16 or mindspore.bfloat16, got "
                         f"{compute_dtype}")
    return compute_dtype


def product_mode(compute_dtype, device=None):
    """How a product with ``compute_dtype`` operands runs on ``device`` (default: MindSpore's device target):
    ``"exact"`` (no compute dtype), ``"native"`` (a kernel in ``compute_dtype``) or ``"emulated"`` (bfloat16 on CPU:
    operands rounded to bfloat16, product in float32)."""
    if compute_dtype is None:
        return "exact"
    if device is None:
        device = ms.get_context("device_target")
    if compute_dtype == ms.bfloat16 and device == "CPU":
        return "emulated"
    return "native"


class LowPrecisionProduct(nn.Cell):
    """A MatMul / BatchMatMul primitive whose operands are in ``compute_dtype`` and whose result is in ``dtype``.

    Args:
        op (Primitive): e.g. ``ops.MatMul()`` or ``ops.BatchMatMul(transpose_a=True)``.
        compute_dtype (mindspore.dtype): float16 or bfloat16.
        dtype (mindspore.dtype): the dtype of the operands given and of the result.
        emulated (bool): round the operands to ``compute_dtype`` and multiply in float32 (no kernel in
            ``compute_dtype``) instead of multiplying in ``compute_dtype``.

    Inputs:
        - **a** (Tensor) - first operand, ``dtype``.
        - **b** (Tensor) - second operand, ``dtype``.

    Outputs:
        Tensor of ``dtype``: ``op(a, b)`` with operands rounded to ``compute_dtype``.

    Supported Platforms:
        ``Ascend`` ``GPU`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> mm = LowPrecisionProduct(ms.ops.MatMul(), ms.bfloat16, ms.float32, emulated=True)
        >>> a = ms.Tensor(np.array([[1.0 + 2.0 ** -10]]), ms.float32)
        >>> mm(a, ms.Tensor(np.ones((1, 1)), ms.float32)).asnumpy().tolist()   # bfloat16 keeps 8 bits
        [[1.0]]
    """

    def __init__(self, op, compute_dtype, dtype, emulated):
        super().__init__()
        self.op = op
        self.compute_dtype = compute_dtype
        self.out_dtype = dtype
        self.emulated = bool(emulated)

    def construct(self, a, b):
        a = ops.cast(a, self.compute_dtype)
        b = ops.cast(b, self.compute_dtype)
        if self.emulated:
            a = ops.cast(a, ms.float32)
            b = ops.cast(b, ms.float32)
        return ops.cast(self.op(a, b), self.out_dtype)


def low_precision(op, compute_dtype, dtype, device=None):
    """``op`` itself when ``compute_dtype`` is None, else a :class:`LowPrecisionProduct` around it whose mode
    (native or emulated, :func:`product_mode`) suits ``device`` (default: MindSpore's device target).

    >>> import mindspore as ms
    >>> type(low_precision(ms.ops.MatMul(), ms.float16, ms.float32)).__name__
    'LowPrecisionProduct'
    """
    if compute_dtype is None:
        return op
    return LowPrecisionProduct(op, compute_dtype, dtype, product_mode(compute_dtype, device) == "emulated")


def compute_dtype_hint(expected, got):
    """What to add to the error for an input of dtype ``got`` given to a module built for ``expected``: for a
    half-precision input (e.g. from ``mindspore.amp.auto_mixed_precision``) the advice to use ``compute_dtype=``
    instead, else nothing.

    >>> import mindspore as ms
    >>> compute_dtype_hint(ms.float32, ms.float64)
    ''
    """
    if got in COMPUTE_DTYPES and expected not in COMPUTE_DTYPES:
        return (f"; for mixed precision keep dtype={expected} and build the module with compute_dtype={got}: its "
                f"products then run in {got} and its sums in {expected} (mindspore.amp.auto_mixed_precision's "
                f"O2/O3/auto cast whole modules to {got}, which this library does not accept)")
    return ""


AMP_O1_MESSAGE = (
    "mindspore.amp.auto_mixed_precision(..., 'O1') rewrites the source of every Cell into ./rewritten_network/ and "
    "loses the module-level constants and primitives that mindchemistry_e3's Cells use, so it cannot run them; "
    "for mixed precision build the Cells with compute_dtype=mindspore.float16 (or bfloat16) instead: their "
    "MatMul / BatchMatMul operands run in that dtype and their sums in dtype")


def refuse_amp_rewrite(cls):
    """Raise a ValueError naming ``compute_dtype`` (:data:`AMP_O1_MESSAGE`) when ``cls`` is the copy of a class that
    MindSpore's ``amp`` O1 rewrite generates (``<Base>Opt`` or ``<Base>Opt_<n>``, a subclass of ``<Base>`` defined
    in generated source, not in an imported module); called from ``__init_subclass__`` of the library's Cells with
    big products.

    >>> class Base: pass
    >>> Copy = type("BaseOpt", (Base,), {"__module__": "NetOpt_1234"})
    >>> try:
    ...     refuse_amp_rewrite(Copy)
    ... except ValueError as err:
    ...     print("compute_dtype=" in str(err))
    True
    """
    match = re.fullmatch(r"(\w+?)Opt(_\d+)?", cls.__name__)
    if match is None or cls.__module__ in sys.modules:
        return
    if any(base.__name__ == match.group(1) for base in cls.__bases__):
        raise ValueError(f"{cls.__name__}: {AMP_O1_MESSAGE}")


class RefuseAmpRewrite:
    """Mixin (before ``nn.Cell``): a subclass that MindSpore's ``amp`` O1 rewrite generates is refused with
    :data:`AMP_O1_MESSAGE` (see :func:`refuse_amp_rewrite`)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        refuse_amp_rewrite(cls)
