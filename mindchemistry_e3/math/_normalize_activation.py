r"""Second-moment normalisation of a scalar activation (e3nn's ``normalize2mom`` and ``moment``).

``normalize2mom(f)`` computes :math:`c_f\, f(x)` with :math:`c_f = \langle f(z)^2 \rangle^{-1/2}`, so that
:math:`\langle (c_f f(z))^2 \rangle \approx 1` for :math:`z \sim \mathcal{N}(0, 1)`. Like e3nn, :math:`c_f` is the
Monte-Carlo estimate over e3nn's own sample (``torch.randn(1_000_000)``, float64, seed 0), which is reproduced
bit for bit in numpy (:mod:`._normalize_activation_np`), so the constants are e3nn's (e.g. identity -> 1.0011...,
not 1). For the activations MindSpore users normally pass (silu, tanh, sigmoid, abs, relu, sin, cos, exp,
square, identity; as ``ops``/``mint`` functions or ``nn`` Cells) the moment is computed in numpy float64; any
other elementwise ``f`` is evaluated by MindSpore on the float64 sample (or give its numpy twin as ``f_numpy``).
Constants are computed once per activation and cached.
"""
import numpy as np
import mindspore as ms
from mindspore import mint, nn, ops

from ..util._cell import kernel_takes
from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard
from ._activation_cpu import fused_activation
from ._normalize_activation_np import (NUMPY_ACTIVATIONS, SAMPLE_SIZE, second_moment_constant,
                                       torch_randn_float64)


def _known_functions():
    table = {}
    for name in ("silu", "tanh", "sigmoid", "abs", "relu", "sin", "cos", "exp", "square"):
        for space in (ops, mint, mint.nn.functional):
            fn = getattr(space, name, None)
            if fn is not None:
                table[fn] = name
    return table


_KNOWN_FUNCTIONS = _known_functions()
_KNOWN_CELLS = {nn.SiLU: "silu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.ReLU: "relu", nn.Identity: "identity"}
for _cls, _name in (("SiLU", "silu"), ("Tanh", "tanh"), ("Sigmoid", "sigmoid"), ("ReLU", "relu"),
                    ("Identity", "identity")):
    if hasattr(mint.nn, _cls):
        _KNOWN_CELLS[getattr(mint.nn, _cls)] = _name
_CONSTANT_CACHE = {}


def activation_name(f):
    """The name of ``f`` in the numpy table when it is a known MindSpore activation, else None.

    >>> from mindspore import ops
    >>> activation_name(ops.silu)
    'silu'
    """
    if isinstance(f, nn.Cell):
        return _KNOWN_CELLS.get(type(f))
    try:
        return _KNOWN_FUNCTIONS.get(f, getattr(f, "e3_activation_name", None))
    except TypeError:  # unhashable
        return None


def _sample_values(f, f_numpy):
    z = torch_randn_float64(SAMPLE_SIZE, 0)
    if f_numpy is not None:
        return np.asarray(f_numpy(z), dtype=np.float64)
    name = activation_name(f)
    if name is not None:
        return np.asarray(NUMPY_ACTIVATIONS[name](z), dtype=np.float64)
    out = f(ms.Tensor(np.array(z), ms.float64))
    if not isinstance(out, ms.Tensor):
        raise ValueError(f"normalize2mom: the activation {f!r} did not return a Tensor for a float64 Tensor input")
    if out.shape != (SAMPLE_SIZE,):
        raise ValueError(f"normalize2mom: the activation must be elementwise; shape ({SAMPLE_SIZE},) gave {out.shape}")
    return out.astype(ms.float64).asnumpy().astype(np.float64)


def moment(f, n, dtype=None, device=None, *, f_numpy=None):
    r""":math:`\langle f(z)^n \rangle` over e3nn's standard-normal sample (1e6 float64 draws, seed 0).

    Computed in float64 (numpy for known activations or when ``f_numpy`` is given), returned as a 0-d Tensor of
    ``dtype``.

    Args:
        f (Callable): elementwise activation (MindSpore function or Cell).
        n (int): order of the moment.
        dtype (mindspore.dtype): dtype of the result. Default: the default dtype (``get_default_dtype()``); the
            moment is always computed in float64 (e3nn evaluates ``f`` in ``dtype``: a float32 result may differ
            from e3nn's in the last bits).
        device: accepted for e3nn compatibility and ignored (Tensors go to the device of ``mindspore.set_device``).
        f_numpy (Callable, optional): numpy twin of ``f`` used instead of ``f``.

    Returns:
        0-d Tensor.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> from mindspore import ops
        >>> round(float(moment(ops.tanh, 2).asnumpy()), 4)
        0.3937
    """
    del device
    values = _sample_values(f, f_numpy)
    return constant(np.array(np.mean(values ** n)), check_float_dtype(dtype))


def _second_moment_constant(f, f_numpy):
    name = activation_name(f) if f_numpy is None else None
    if name is not None:
        return second_moment_constant(name)
    key = None
    if not isinstance(f, nn.Cell) and f_numpy is None:
        try:
            hash(f)
            key = f
        except TypeError:
            key = None
    if key is not None and key in _CONSTANT_CACHE:
        return _CONSTANT_CACHE[key]
    values = _sample_values(f, f_numpy)
    cst = float(np.mean(values ** 2)) ** -0.5
    if key is not None:
        _CONSTANT_CACHE[key] = cst
    return cst


class normalize2mom(SecondOrderGuard, nn.Cell):  # pylint: disable=invalid-name  (e3nn's name)
    r"""Wraps an activation ``f`` so that its second moment on standard-normal input is (about) one.

    Computes :math:`c_f f(x)` with e3nn's constant :math:`c_f` (see the module doc). When
    :math:`|c_f - 1| < 10^{-4}` it returns ``f(x)`` unchanged, as e3nn does. On CPU, silu, sigmoid and tanh run as
    fused kernels to second order (``fused``, :mod:`._activation_cpu`; None elsewhere).

    Args:
        f (Callable): elementwise activation: a MindSpore function (``ops.silu``, ``ops.tanh``, ...) or Cell.
        dtype (mindspore.dtype): dtype of the constant :math:`c_f`. Default: the default dtype
            (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored (Tensors go to the device of ``mindspore.set_device``).
        f_numpy (Callable, optional): numpy twin of ``f`` to compute :math:`c_f` with (keyword-only).

    Inputs:
        - **x** (Tensor) - any shape.

    Outputs:
        Tensor of the shape of ``x``.

    Attributes:
        cst (float): :math:`c_f` as a Python float (float64).

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms, numpy as np
        >>> from mindspore import ops
        >>> act = normalize2mom(ops.silu)
        >>> round(act.cst, 4)
        1.6792
        >>> act(ms.Tensor(np.zeros(2, np.float32))).shape
        (2,)
    """

    def __init__(self, f, dtype=None, device=None, *, f_numpy=None):
        super().__init__()
        del device
        dtype = check_float_dtype(dtype)
        if not callable(f):
            raise ValueError(f"normalize2mom needs a callable activation, got {f!r}")
        self.f = f
        self.cst = _second_moment_constant(f, f_numpy)
        self._is_id = abs(self.cst - 1) < 1e-4
        self.cst_tensor = constant(np.array(self.cst), dtype)
        # c f(x) and its derivatives as three fused kernels on CPU (silu, sigmoid, tanh), else None
        self.fused = fused_activation(f, 1.0 if self._is_id else self.cst)

    def construct(self, x):
        if self.fused is not None and kernel_takes(x):
            return self.fused(x)
        if self._is_id:
            return self.f(x)
        return self.f(x) * self.cst_tensor

    def extend_repr(self):
        return f"cst={self.cst!r}"


__all__ = ["moment", "normalize2mom", "activation_name"]
