r"""Scalar activations on a direct sum of irreps (e3nn's ``Activation``).

Block ``k`` of the input (``mul x (l, p)``) goes through ``acts[k]`` normalised by
:func:`mindchemistry_e3.math.normalize2mom` (second moment one on standard-normal input, e3nn's constants), or
passes unchanged when ``acts[k]`` is None. Only scalars (``l = 0``) may have an activation. The output parity
follows e3nn: an even input stays even; an odd input becomes even under an even activation, stays odd under an
odd one, and is rejected otherwise. Parity of an activation is decided as e3nn does, by comparing
:math:`\phi(x)` and :math:`\phi(-x)` on ``linspace(0, 10, 256)`` to ``1e-5``.

>>> from mindspore import ops
>>> Activation("256x0o", [ops.abs]).irreps_out
256x0e
>>> Activation("256x0o+16x1e", [None, None]).irreps_out
256x0o+16x1e
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..math import normalize2mom
from ..math._normalize_activation import activation_name
from ..math._normalize_activation_np import NUMPY_ACTIVATIONS
from ..o3._irreps import Irreps
from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard


def activation_parity(act, cst=1.0, dtype=None):
    """+1 (even), -1 (odd) or 0 (neither) for ``cst * act``, from ``act`` on ``linspace(0, 10, 256)`` (e3nn's test).

    A known activation (:func:`~mindchemistry_e3.math.activation_name`) is evaluated by its numpy twin in float64,
    so building needs no kernel of ``dtype`` (the CPU has no bfloat16 Sigmoid); any other runs in MindSpore, in
    ``dtype`` when that is float32 / float64 and in float32 for float16 / bfloat16.

    >>> from mindspore import ops
    >>> activation_parity(ops.tanh), activation_parity(ops.abs), activation_parity(ops.silu)
    (-1, 1, 0)
    """
    x = np.linspace(0.0, 10.0, 256)
    name = activation_name(act)
    if name is not None:
        a1 = cst * np.asarray(NUMPY_ACTIVATIONS[name](x), np.float64)
        a2 = cst * np.asarray(NUMPY_ACTIVATIONS[name](-x), np.float64)
    else:
        dtype = check_float_dtype(dtype)
        if dtype not in (ms.float32, ms.float64):
            dtype = ms.float32
        a1 = cst * act(constant(x, dtype)).astype(ms.float64).asnumpy()
        a2 = cst * act(constant(-x, dtype)).astype(ms.float64).asnumpy()
    if np.abs(a1 - a2).max() < 1e-5:
        return 1
    if np.abs(a1 + a2).max() < 1e-5:
        return -1
    return 0


_SIGMOID = ops.Sigmoid()  # primitives: a custom bprop is differentiated again only when it calls primitives / Cells


class _SiLUSecond(nn.Cell):
    r""":math:`\mathrm{silu}''(x) = s a (2 + x (a - s))`, :math:`s = \sigma(x)`, :math:`a = 1 - s` (integer constants
    only: exact in float64; ``a`` is shared with the first derivative)."""

    def construct(self, x):
        s = _SIGMOID(x)
        a = 1 - s
        return s * a * (2 + x * (a - s))


class _SiLUFirst(nn.Cell):
    r""":math:`\mathrm{silu}'(x) = s + x s (1 - s)`, differentiated by :class:`_SiLUSecond`."""

    def construct(self, x):
        s = _SIGMOID(x)
        return s + x * s * (1 - s)

    def bprop(self, x, out, dout):
        return (dout * _SILU_SECOND(x),)


class _SiLU(nn.Cell):
    r""":math:`x \sigma(x)` whose gradient is :class:`_SiLUFirst` (one Cell per derivative order)."""

    def construct(self, x):
        return x * _SIGMOID(x)

    def bprop(self, x, out, dout):
        return (dout * _SILU_FIRST(x),)


_SILU_SECOND, _SILU_FIRST, _SILU = _SiLUSecond(), _SiLUFirst(), _SiLU()


def silu(x):
    r"""SiLU :math:`x \sigma(x)` (the values of ``ops.silu``) with compact first and second derivatives.

    MindSpore's own SiLU gradient expands into a long chain of elementwise kernels in the second-order pass of a
    force-trained model (about 25 kernels per SiLU in a NequIP train step); written as ``x * sigmoid(x)`` with
    the closed-form derivatives :math:`s + x s (1 - s)` and :math:`s (1 - s)(2 + x (1 - 2 s))` as Cells of their
    own it is about 15, and compiles faster. ``normalize2mom`` knows it as ``silu`` (e3nn's constant).

    Args:
        x (Tensor): any shape, floating.

    Outputs:
        Tensor of the shape of ``x``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> silu(ms.Tensor(np.array([0.0, 1.0]), ms.float64)).asnumpy().round(6).tolist()
        [0.0, 0.731059]
    """
    return _SILU(x)


silu.e3_activation_name = "silu"


class _Copy(nn.Cell):
    def construct(self, x):
        return x


class Activation(SecondOrderGuard, nn.Cell):
    r"""Scalar activation functions on the scalar blocks of a direct sum of irreps.

    Args:
        irreps_in (Union[str, Irreps]): representation of the input.
        acts (list[Union[Callable, None]]): one per block of ``irreps_in``: an elementwise MindSpore function or
            Cell (``ops.silu``, ``ops.tanh``, ``nn.SiLU()``, ...), or None for no activation.
        dtype (mindspore.dtype): keyword-only, dtype of the normalisation constants (default: the default dtype
            (``get_default_dtype()``)).

    Inputs:
        - **features** (Tensor) - shape ``(..., irreps_in.dim)`` (the irreps axis is ``dim``).
        - **dim** (int) - the irreps axis, default -1.

    Outputs:
        Tensor of the same shape, representation ``irreps_out``.

    Raises:
        ValueError: if the number of activations is not ``len(irreps_in)``, an activation is given for a
            non-scalar block, or an odd scalar gets an activation that is neither even nor odd.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> from mindspore import ops
        >>> a = Activation("2x0e + 0o + 1o", [ops.silu, ops.tanh, None])
        >>> a.irreps_out, a(ms.Tensor(np.zeros((3, 6)), ms.float32)).shape
        (2x0e+1x0o+1x1o, (3, 6))
    """

    def __init__(self, irreps_in, acts, *, dtype=None):
        super().__init__()
        irreps_in = Irreps(irreps_in)
        acts = list(acts)
        self.dtype = dtype = check_float_dtype(dtype)
        if len(irreps_in) != len(acts):
            raise ValueError(f"Activation: irreps_in {irreps_in} has {len(irreps_in)} blocks but {len(acts)} "
                             f"activation functions were given")
        irreps_out = []
        cells = []
        paths = []
        start = 0
        for (mul, ir), act in zip(irreps_in, acts):
            stop = start + mul * ir.dim
            if act is None:
                irreps_out.append((mul, ir))
                paths.append((start, stop, -1))
            else:
                if ir.l != 0:
                    raise ValueError(f"Activation: cannot apply an activation function to the non-scalar block "
                                     f"{mul}x{ir} of {irreps_in}")
                normalized = act if isinstance(act, normalize2mom) else normalize2mom(act, dtype=dtype)
                cst = 1.0 if normalized._is_id else normalized.cst  # pylint: disable=protected-access
                p_act = activation_parity(normalized.f, cst, dtype)
                p_out = p_act if ir.p == -1 else ir.p
                if p_out == 0:
                    raise ValueError(f"Activation: the parity is violated! The input scalar {mul}x{ir} of "
                                     f"{irreps_in} is odd but the activation {act!r} is neither even nor odd.")
                irreps_out.append((mul, (0, p_out)))
                paths.append((start, stop, len(cells)))
                cells.append(normalized)
            start = stop
        self.irreps_in = irreps_in
        self.irreps_out = Irreps(irreps_out)
        self.acts = nn.CellList(cells if cells else [_Copy()])
        self._paths = tuple(paths)
        self._dim = irreps_in.dim
        self._irreps_str = str(irreps_in)
        self._has_acts = [act is not None for act in acts]

    def __repr__(self):
        acts = "".join("x" if a else " " for a in self._has_acts)
        return f"{self.__class__.__name__} [{acts}] ({self.irreps_in} -> {self.irreps_out})"

    def construct(self, features, dim=-1):
        if dim != -1 and dim != features.ndim - 1:
            return ops.swapaxes(self.construct(ops.swapaxes(features, dim, -1)), dim, -1)
        if features.shape[-1] != self._dim:
            raise ValueError(f"Activation: input of irreps {self._irreps_str} needs a size {self._dim} irreps "
                             f"axis, got shape {features.shape}")
        output = []
        for start, stop, k in self._paths:
            if k >= 0:
                output.append(self.acts[k](features[..., start:stop]))
            else:
                output.append(features[..., start:stop])
        if len(output) > 1:
            return ops.concat(output, -1)
        if len(output) == 1:
            return output[0]
        return features
