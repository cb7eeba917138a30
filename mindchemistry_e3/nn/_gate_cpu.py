r"""A :class:`~mindchemistry_e3.nn.Gate` on its working layout as fused CPU kernels: :class:`FusedGate`.

The kernels of :mod:`._gate_cpu_np` as MindSpore AOT custom ops: ``gate_forward`` (the activations of the scalar
and gate columns, the gated irreps times their gates, in one pass over the rows), whose ``bprop`` is ``gate_vjp``,
whose ``bprop`` is ``gate_vjp2`` -- where the plain ops split the input, run each activation, concatenate, gather
the gates over the gated components and multiply (and more in every derivative). Third order is not supported.

:func:`fused_gate` returns the Cell only on a CPU target with native kernels available and activations the kernels
know (silu, sigmoid, tanh, normalised or not; unactivated scalars); otherwise None, and the Gate keeps its plain
ops. Inputs other than float32 / float64 and empty ones go through the plain ops.
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..math._normalize_activation import activation_name
from ..math._activation_cpu_np import NATIVE_ACTIVATIONS
from ..util._native import build_library
from ._gate_cpu_np import gate_source


def _same(x, *_):
    return x


def _gate_ops(library, n_out):
    """The ``gate_forward`` Custom op of ``library``, its gradient chain wired through the ``bprop``\\ s."""
    vjp2 = ops.Custom(f"{library}:gate_vjp2", out_shape=lambda x, g, h: (x, g), out_dtype=lambda x, *_: (x, x),
                      func_type="aot")

    def vjp_bprop(x, g, out, dout):
        return vjp2(x, g, dout)

    vjp = ops.Custom(f"{library}:gate_vjp", out_shape=_same, out_dtype=_same, func_type="aot", bprop=vjp_bprop)

    def forward_bprop(x, out, dout):
        return (vjp(x, dout),)

    return ops.Custom(f"{library}:gate_forward", out_shape=lambda x: (x[0], n_out), out_dtype=_same,
                      func_type="aot", bprop=forward_bprop)


class FusedGate(nn.Cell):
    r"""A gate on its working layout ``[Z, n_in] -> [Z, n_out]`` as fused CPU kernels (see the module doc).

    Args:
        n_out (int): output columns.
        library (str): the compiled :func:`._gate_cpu_np.gate_source` of the gate.

    Inputs:
        - **x** (Tensor) - ``[Z, n_in]``, float32 or float64, ``Z > 0``.

    Outputs:
        Tensor ``[Z, n_out]``.

    Supported Platforms:
        ``CPU``
    """

    def __init__(self, n_out, library):
        super().__init__()
        self.n_out = int(n_out)
        self.forward = _gate_ops(library, self.n_out)

    def construct(self, x):
        return self.forward(x)


def fused_gate(plan, run_acts):
    """A :class:`FusedGate` of a numpy :class:`~mindchemistry_e3.nn._gate.GatePlan` whose activation runs are the
    ``normalize2mom`` Cells ``run_acts``, or None when it does not apply (a target other than CPU, an activation
    without a kernel, no native kernels)."""
    if ms.get_context("device_target") != "CPU":
        return None
    pieces, start, gated = [], 0, 0
    for size, run in zip(plan.sizes, plan.runs):
        if run == -2:
            gated = size
            continue
        if run == -1:
            pieces.append((start, start + size, None, 1.0))
        else:
            act = run_acts[run]
            name = activation_name(getattr(act, "f", None))
            if name not in NATIVE_ACTIVATIONS:
                return None
            pieces.append((start, start + size, name, 1.0 if act._is_id else act.cst))  # pylint: disable=W0212
        start += size
    n_act = start
    out_src = np.arange(n_act) if plan.out_map is None else np.asarray(plan.out_map.index)
    if out_src.ndim != 1 or len(out_src) != plan.num_scalars + gated or np.any(out_src >= n_act):
        return None  # (summed or padded output columns: not a gate's map)
    library = build_library(gate_source(n_act + gated, pieces, out_src.tolist(), plan.num_scalars), "gate")
    if library is None:
        return None
    return FusedGate(len(out_src), library)


__all__ = ["FusedGate", "fused_gate"]
