"""The base of the Cells that execute a numpy plan (:class:`PlanCell`) and the helpers they share.

A plan (irreps, CG tables, index tables: everything that depends only on the options) is a tree of
NamedTuples built once in numpy. :func:`plan_tensors` turns its arrays into Tensor constants; the Cell keeps
that typed tree as an attribute and ``construct`` reads its fields directly (graph mode accepts NamedTuples of
Python ints, strings, tuples and Tensors as Cell attributes, and compiles them as fast as plain tuples).

:class:`PlanCell` holds what the tensor products, ``Linear`` and the convolution otherwise each repeat: the
execution mode recorded at call time (it picks the split lowering, see :mod:`mindchemistry_e3.util.split`), the
``MatMul`` primitive (its backward is ~3x faster on CPU than ``ops.matmul``'s), numpy inputs accepted as
Tensors, and input checks that name the module.

>>> import numpy as np
>>> from typing import NamedTuple
>>> class Step(NamedTuple):
...     size: int
...     table: object
>>> plan_tensors(Step(2, np.eye(2)), ms.float64).table.dtype
mindspore.float64
>>> broadcast_shape((3, 1), (4,), "f")
(3, 4)
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from .dtype import check_float_dtype, constant
from .precision import RefuseAmpRewrite, check_compute_dtype, compute_dtype_hint, low_precision
from .second_order import SecondOrderGuard
from .split import split as _split_pieces

__all__ = ["PlanCell", "GuardedCell", "plan_tensors", "broadcast_shape", "prod", "as_tensor", "kernel_takes"]


def plan_tensors(plan, dtype):
    """``plan`` with every numpy array replaced by a Tensor constant: floating arrays in ``dtype``, integer arrays
    as int32, booleans as bool; NamedTuples and tuples are rebuilt with the same types, other values kept."""
    if isinstance(plan, np.ndarray):
        if plan.dtype.kind == "f":
            return constant(plan, dtype)
        if plan.dtype.kind == "b":
            return ms.Tensor(plan, ms.bool_)
        return ms.Tensor(plan.astype(np.int32), ms.int32)
    if isinstance(plan, tuple) and hasattr(plan, "_fields"):
        return type(plan)(*[plan_tensors(v, dtype) for v in plan])
    if isinstance(plan, tuple):
        return tuple(plan_tensors(v, dtype) for v in plan)
    return plan


def prod(shape):
    """Product of a shape tuple (Python ints; graph-mode friendly)."""
    n = 1
    for s in shape:
        n = n * s
    return n


def broadcast_shape(a, b, name):
    """Broadcast two shape tuples of Python ints (graph-mode friendly); ``name`` goes into the error."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = ()
    for i in range(n):
        if a[i] != b[i] and a[i] != 1 and b[i] != 1:
            raise ValueError(f"{name}: leading shapes {a} and {b} do not broadcast")
        out = out + (max(a[i], b[i]),)
    return out


def kernel_takes(x):
    """Whether the native CPU kernels (:mod:`mindchemistry_e3.util._native`) take ``x``: float32 or float64 and not
    empty (static in graph mode). Cells with a kernel run their plain ops on anything else (e.g. float16).

    >>> kernel_takes(ms.Tensor(np.ones((2, 3), np.float32))), kernel_takes(ms.Tensor(np.ones((0, 3), np.float32)))
    (True, False)
    """
    return x.dtype in (ms.float32, ms.float64) and x.size > 0


def as_tensor(value):
    """A numpy array as a Tensor of its dtype; anything else unchanged (call it outside graphs, e.g. in
    ``__call__``)."""
    if isinstance(value, np.ndarray):
        return ms.Tensor(value)
    return value


class GuardedCell(RefuseAmpRewrite, SecondOrderGuard):
    """Mixin (first base, before ``nn.Cell``) of the library's Cells with big products: numpy inputs become Tensors,
    a PyNative second-order gradient through the Cell raises (:mod:`mindchemistry_e3.util.second_order`), and the
    copies MindSpore's ``amp`` O1 rewrite makes of it are refused (:mod:`mindchemistry_e3.util.precision`)."""

    def __call__(self, *args, **kwargs):
        return super().__call__(*[as_tensor(a) for a in args], **kwargs)


class PlanCell(GuardedCell, nn.Cell):
    """A Cell that executes a plan: mode-aware split, the products in the module's precision, named checks, and what
    :class:`GuardedCell` adds (numpy inputs, the PyNative second-order and amp O1 refusals).

    Args:
        name (str): how errors name the module, e.g. ``"Linear(4x0e -> 2x0e)"``.
        dtype (mindspore.dtype): dtype of the parameters and constants (None: the default dtype).
        compute_dtype (mindspore.dtype, optional): operand dtype of the products ``_matmul`` and ``_bmm``
            (float16 or bfloat16, see :mod:`mindchemistry_e3.util.precision`); None: ``dtype``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> class Twice(PlanCell):
        ...     def construct(self, x):
        ...         self.check_dtype(x)
        ...         return x * 2
        >>> Twice("Twice", ms.float64)(np.ones(2)).asnumpy().tolist()
        [2.0, 2.0]
    """

    def __init__(self, name, dtype=None, compute_dtype=None):
        super().__init__()
        self.dtype = check_float_dtype(dtype)
        self._name = name
        self._pynative = False
        self.compute_dtype = check_compute_dtype(compute_dtype, self.dtype, name)
        self._matmul = self.product(ops.MatMul())
        self._bmm = self.product(ops.BatchMatMul())

    def product(self, op):
        """The MatMul / BatchMatMul primitive ``op`` with operands in the module's ``compute_dtype`` and its result
        in ``dtype`` (``op`` itself without a compute dtype); build the products in ``__init__`` with it."""
        return low_precision(op, self.compute_dtype, self.dtype)

    def __call__(self, *args, **kwargs):
        # Runs in PyNative and for a top-level graph call, not inside a compiled parent (whose mode is graph).
        self._pynative = ms.get_context("mode") == ms.PYNATIVE_MODE
        return super().__call__(*args, **kwargs)

    def split(self, x, sizes, axis):
        """``x`` cut along ``axis`` into pieces of ``sizes`` (see :func:`mindchemistry_e3.util.split.split`)."""
        return _split_pieces(x, sizes, axis, self._pynative)

    def check_dtype(self, *xs):
        """Raise a ValueError naming the module unless every floating input has the module's dtype."""
        for x in xs:
            if x.dtype != self.dtype:
                raise ValueError(f"{self._name}: inputs must have the module's dtype {self.dtype}, got {x.dtype} "
                                 f"(build the module with dtype={x.dtype}, or cast the input)"
                                 + compute_dtype_hint(self.dtype, x.dtype))
