r"""Fully-connected network with e3nn's normalisation (``FullyConnectedNet``): scalars only, no biases.

Layer ``i`` maps ``hs[i] -> hs[i+1]`` with a weight :math:`W \sim \mathcal{N}(0, 1)` used as
:math:`W / \sqrt{h_\text{in} v_\text{in}}` followed by the activation :math:`\phi` normalised by
:func:`mindchemistry_e3.math.normalize2mom` and a factor :math:`\sqrt{v_\text{out}}`; a layer without activation
(the last one unless ``out_act``) uses :math:`W / \sqrt{h_\text{in} v_\text{in} / v_\text{out}}`.
:math:`v_\text{in}` is ``variance_in`` for the first layer and 1 after; :math:`v_\text{out}` is ``variance_out``
for the last layer and 1 before. Parameters are named ``layer{i}.weight`` as in e3nn's ``state_dict``.

Lowering: a hidden layer's constant output factor (the activation's normalisation times :math:`\sqrt{v_\text{out}}`)
is folded into the next layer's weight scale, so the hidden activations go through the bare activation: two
elementwise multiplies of edge-sized tensors fewer per hidden layer (and fewer kernels in every derivative).

>>> from mindspore import ops
>>> net = FullyConnectedNet([4, 8, 2], ops.silu)
>>> net, [p.name for p in net.trainable_params()]
(FullyConnectedNet[4, 8, 2], ['layer0.weight', 'layer1.weight'])
"""
import collections
import math

import numpy as np

import mindspore as ms
from mindspore import nn, ops, Parameter
from mindspore.common.initializer import Normal, initializer

from ..math import normalize2mom
from ..math._activation_cpu import fused_activation
from ..util._cell import GuardedCell, kernel_takes
from ..util.dtype import check_float_dtype, constant
from ..util.precision import RefuseAmpRewrite, check_compute_dtype, low_precision


class _Layer(RefuseAmpRewrite, nn.Cell):
    r"""One layer ``x @ W / sqrt(h_in var_in)``, then ``act`` and ``* sqrt(var_out)`` (see the module doc)."""

    def __init__(self, h_in, h_out, act, var_in, var_out, dtype=None, compute_dtype=None):
        super().__init__()
        # the primitive: a faster backward than ops.matmul's on CPU; operands in compute_dtype when given
        self._matmul = low_precision(ops.MatMul(), compute_dtype, dtype)
        self.h_in = int(h_in)
        self.h_out = int(h_out)
        self.var_in = var_in
        self.var_out = var_out
        self.act = act
        self._empty = self.h_in == 0 or self.h_out == 0  # e3nn accepts width-0 layers: x @ W is then all zeros
        if self._empty:
            self.weight = Parameter(ms.Tensor(np.zeros((self.h_in, self.h_out)), dtype), name="weight")
        else:
            self.weight = Parameter(initializer(Normal(sigma=1.0), (self.h_in, self.h_out), dtype), name="weight")
        self._dtype = dtype
        fan_in = max(self.h_in, 1)  # (no weight to scale when h_in = 0)
        if act is not None:
            self._w_scale_value = 1.0 / math.sqrt(fan_in * var_in)
            self._out_scale = constant(math.sqrt(var_out), dtype)
        else:
            self._w_scale_value = 1.0 / math.sqrt(fan_in * var_in / var_out)
            self._out_scale = constant(1.0, dtype)
        self._w_scale = constant(self._w_scale_value, dtype)
        self._has_act = act is not None
        self._scale_out = act is not None and var_out != 1
        self._raw_act = False  # the activation's output factor moved into the next layer's weight scale
        self._raw_fused = None  # the bare activation as fused CPU kernels, when it is raw and they apply

    def output_factor(self):
        """The constant the activated output is multiplied by (normalisation of the activation times
        ``sqrt(var_out)``), 1 without activation."""
        if not self._has_act:
            return 1.0
        cst = 1.0 if getattr(self.act, "_is_id", True) else float(self.act.cst)
        return cst * math.sqrt(self.var_out)

    def fold_output_factor_into(self, nxt):
        """Multiply the next layer's weight scale by :meth:`output_factor` and apply the bare activation here: the
        same network with two elementwise multiplies of the hidden activations fewer."""
        factor = self.output_factor()
        if factor != 1.0 and hasattr(self.act, "f"):
            nxt._w_scale_value *= factor
            nxt._w_scale = constant(nxt._w_scale_value, nxt._dtype)
            self._raw_act = True
            self._raw_fused = fused_activation(self.act.f)

    def __repr__(self):
        act = self.act
        if act is not None and hasattr(act, "f"):
            act = act.f
        name = getattr(act, "__name__", act.__class__.__name__ if act is not None else None)
        return f"Layer({self.h_in}->{self.h_out}, act={name})"

    def kind(self):
        """What the layer computes apart from its weight values, as a comparable key (sizes in, activation, scales)."""
        act = self.act
        return (self.h_in, self._empty, self._raw_act, self._has_act, self._scale_out, self._w_scale_value,
                float(self._out_scale.asnumpy()), getattr(act, "f", act), float(getattr(act, "cst", 1.0)))

    def scaled_weight(self):
        """The weight as applied, ``W / sqrt(h_in var_in [/ var_out])`` (``[h_in, h_out]``), times the previous
        layer's output factor when it was folded in."""
        return self.weight * self._w_scale

    def construct(self, x):
        return self.forward_with(x, self.scaled_weight())

    def forward_with(self, x, w):
        """The layer with the applied weight ``w`` (``[h_in, n]``, e.g. some columns of :meth:`scaled_weight`)."""
        if x.shape[-1] != self.h_in:
            raise ValueError(f"FullyConnectedNet layer {self.h_in}->{self.h_out}: input needs a last axis of size "
                             f"{self.h_in}, got shape {x.shape}")
        lead = x.shape[:-1]
        if self._empty or w.shape[1] == 0:  # the CPU MatMul refuses empty operands
            x = ops.zeros(lead + (w.shape[1],), x.dtype)
        else:
            x = self._matmul(x.reshape((-1, self.h_in)), w).reshape(lead + (w.shape[1],))
        return self.activate(x)

    def activate(self, x):
        """The layer's elementwise tail on its pre-activations ``x`` (activation and output scale, if any)."""
        if self._raw_act:
            return self._raw_fused(x) if self._raw_fused is not None and kernel_takes(x) else self.act.f(x)
        if self._has_act:
            x = self.act(x)
            if self._scale_out:
                x = x * self._out_scale
        return x


class FullyConnectedNet(GuardedCell, nn.SequentialCell):
    r"""Fully-connected neural network (e3nn's normalisation, no biases).

    Args:
        hs (list[int]): input, hidden and output sizes.
        act (Callable, optional): elementwise activation (MindSpore function or Cell); it is normalised by
            :func:`mindchemistry_e3.math.normalize2mom` so that its second moment on standard normals is one.
        variance_in (float): variance of the input features. Default 1.
        variance_out (float): target variance of the output. Default 1.
        out_act (bool): apply the activation after the last layer too. Default False.
        dtype (mindspore.dtype): keyword-only, dtype of the weights and constants (default: the default dtype
            (``get_default_dtype()``)).
        compute_dtype (mindspore.dtype, optional): keyword-only, ``mindspore.float16`` or ``mindspore.bfloat16``:
            the operands of each layer's MatMul in that dtype; the activations and the output in ``dtype``
            (:mod:`mindchemistry_e3.util.precision`). Default None.

    Inputs:
        - **x** (Tensor) - shape ``(..., hs[0])``.

    Outputs:
        Tensor of shape ``(..., hs[-1])``.

    Raises:
        ValueError: if ``hs`` has fewer than 2 sizes or a negative size, or the input's last axis is wrong. (A size
            0 is accepted, as in e3nn: a layer with no weights gives zeros.)

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> from mindspore import ops
        >>> net = FullyConnectedNet([3, 16, 1], ops.silu)
        >>> net(ms.Tensor(np.ones((5, 3)), ms.float32)).shape
        (5, 1)
    """

    def __init__(self, hs, act=None, variance_in=1, variance_out=1, out_act=False, *, dtype=None,
                 compute_dtype=None):
        hs = [int(h) for h in hs]
        if len(hs) < 2 or any(h < 0 for h in hs):
            raise ValueError(f"FullyConnectedNet: hs must list at least two non-negative sizes, got {hs}")
        dtype = check_float_dtype(dtype)
        compute_dtype = check_compute_dtype(compute_dtype, dtype, f"FullyConnectedNet{hs}")
        if act is not None and not isinstance(act, normalize2mom):
            act = normalize2mom(act, dtype=dtype)
        layers = collections.OrderedDict()
        var_in = variance_in
        for i, (h1, h2) in enumerate(zip(hs, hs[1:])):
            if i == len(hs) - 2:
                var_out = variance_out
                a = act if out_act else None
            else:
                var_out = 1
                a = act
            layers[f"layer{i}"] = _Layer(h1, h2, a, var_in, var_out, dtype, compute_dtype)
            var_in = var_out
        stack = list(layers.values())
        for layer, nxt in zip(stack, stack[1:]):  # each activation's constant factor into the next weight scale
            layer.fold_output_factor_into(nxt)
        super().__init__(layers)
        self.hs = hs
        self.dtype = dtype
        self.compute_dtype = compute_dtype

    def __repr__(self):
        return f"{self.__class__.__name__}{self.hs}"

    def same_hidden_layers(self, other):
        """Whether ``other`` computes its hidden layers as this net does (same input and hidden sizes, activations,
        scales and dtypes; the output size may differ), so that both can run side by side on one input.

        >>> a, b = FullyConnectedNet([8, 16, 4], ops.silu), FullyConnectedNet([8, 16, 6], ops.silu)
        >>> a.same_hidden_layers(b), a.same_hidden_layers(FullyConnectedNet([8, 16, 4], ops.tanh))
        (True, False)
        """
        return (self.hs[:-1] == other.hs[:-1] and self.dtype == other.dtype
                and self.compute_dtype == other.compute_dtype
                and [layer.kind() for layer in self] == [layer.kind() for layer in other])

    def output_columns(self, x, columns):
        """``self(x)[..., columns]``, computed by picking the columns of the last weight matrix (cheaper than
        picking them from the output when ``x`` has many rows). Call it inside ``construct``.

        Args:
            x (Tensor): ``(..., hs[0])``.
            columns (Tensor): int32 ``[n]`` output columns.

        Outputs:
            Tensor ``(..., n)``.

        Examples:
            >>> import numpy as np, mindspore as ms
            >>> from mindspore import ops
            >>> net = FullyConnectedNet([3, 4, 5], ops.silu)
            >>> x = ms.Tensor(np.ones((2, 3)), ms.float32)
            >>> cols = ms.Tensor([4, 0], ms.int32)
            >>> bool(np.allclose(net.output_columns(x, cols).asnumpy(), net(x).asnumpy()[:, [4, 0]]))
            True
        """
        depth = len(self.hs) - 1
        for i in range(depth - 1):
            x = self[i](x)
        return self[depth - 1].forward_with(x, self.last_weight(columns))

    def last_weight(self, columns=None):
        """The applied weight of the last layer (:meth:`_Layer.scaled_weight`, ``[hs[-2], hs[-1]]``), or its
        ``columns`` (int32 Tensor ``[n]``) only; call it inside ``construct``."""
        weight = self[len(self.hs) - 2].scaled_weight()
        return weight if columns is None else ops.gather(weight, columns, 1)
