r"""Gate activation (e3nn's ``Gate``): activated scalars, plus gated irreps multiplied by activated gate scalars.

.. math::

    \left(\bigoplus_i \phi_i(x_i)\right) \oplus \left(\bigoplus_j \phi_j(g_j)\, y_j\right)

Input layout (e3nn's): the three simplified representations ``irreps_scalars + irreps_gates + irreps_gated``
concatenated and **sorted** (stable sort by irrep), so ``irreps_in`` is that sorted, simplified sum; e.g. scalars
``16x0e`` and gates ``8x0e`` share one ``24x0e`` block, scalars first. Output: ``act_scalars.irreps_out`` then the
gated irreps, each copy's parity multiplied by its gate's parity (e3nn's ``ElementwiseTensorProduct`` of
``irreps_gated`` and the activated gates, split to common multiplicities).

Lowering: slices of the input (planned once), the two :class:`Activation` Cells, one constant gather that repeats
each gate over the ``2l+1`` components of its gated copy, and one elementwise multiply (the same numbers as the
elementwise tensor product, whose paths ``0 x l -> l`` have coefficient one).

>>> from mindspore import ops
>>> g = Gate("16x0o", [ops.tanh], "32x0o", [ops.tanh], "16x1e+16x1o")
>>> g.irreps_in, g.irreps_out
(48x0o+16x1o+16x1e, 16x0o+16x1o+16x1e)
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..o3._irreps import Irreps
from ..o3._tensor_product._sub import align_multiplicities
from ..util.dtype import check_float_dtype
from ._activation import Activation
from ._extract import extract_plan


def gate_layout(irreps_scalars, irreps_gates, irreps_gated):
    """e3nn's sorted input layout: ``(irreps_in, (ranges_scalars, ranges_gates, ranges_gated))``.

    >>> gate_layout(Irreps("2x0e"), Irreps("0e"), Irreps("1o"))
    (3x0e+1x1o, (((0, 2),), ((2, 3),), ((3, 6),)))
    """
    outs = tuple(Irreps(irreps).simplify() for irreps in (irreps_scalars, irreps_gates, irreps_gated))
    concatenated = Irreps(sum((list(irreps) for irreps in outs), []))
    instructions, i = [], 0
    for irreps in outs:
        instructions.append(tuple(range(i, i + len(irreps))))
        i += len(irreps)
    sorted_irreps = concatenated.sort()
    instructions = [tuple(sorted_irreps.p[i] for i in ins) for ins in instructions]
    plan = extract_plan(sorted_irreps.irreps, outs, instructions)
    return sorted_irreps.irreps.simplify(), plan


def elementwise_gated_irreps(irreps_gated, irreps_gates):
    """Output irreps of e3nn's ``ElementwiseTensorProduct(irreps_gated, irreps_gates)`` for scalar gates.

    >>> elementwise_gated_irreps(Irreps("2x1e + 2o"), Irreps("0e + 2x0o"))
    1x1e+1x1o+1x2e
    """
    in1, in2 = align_multiplicities(Irreps(irreps_gated).simplify(), Irreps(irreps_gates).simplify())
    return Irreps([(mul, (ir_1.l, ir_1.p * ir_2.p)) for (mul, ir_1), (_, ir_2) in zip(in1, in2)])


def _gather_index(irreps_gated):
    """For each component of ``irreps_gated``, the index of its irrep copy (= its gate)."""
    index, copy = [], 0
    for mul, ir in irreps_gated:
        index.append(np.repeat(np.arange(copy, copy + mul), ir.dim))
        copy += mul
    return np.concatenate(index + [np.zeros(0, np.int64)]).astype(np.int32)


class Gate(nn.Cell):
    r"""Gate activation function.

    Args:
        irreps_scalars (Union[str, Irreps]): scalars passed through ``act_scalars``.
        act_scalars (list[Union[Callable, None]]): one activation per block of ``irreps_scalars``.
        irreps_gates (Union[str, Irreps]): gate scalars passed through ``act_gates``.
        act_gates (list[Union[Callable, None]]): one activation per block of ``irreps_gates``.
        irreps_gated (Union[str, Irreps]): irreps multiplied by the gates; ``irreps_gated.num_irreps`` must equal
            ``irreps_gates.num_irreps``.
        dtype (mindspore.dtype): keyword-only, dtype of the constants (default: the default dtype
            (``get_default_dtype()``)).

    Inputs:
        - **features** (Tensor) - shape ``(..., irreps_in.dim)`` in e3nn's sorted layout (see the module doc).

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)``.

    Raises:
        ValueError: if gates or scalars are not scalars, if the number of gates differs from the number of gated
            irreps, or for a wrong number of activations / a parity-violating activation.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> from mindspore import ops
        >>> g = Gate("16x0e", [ops.silu], "8x0e", [ops.sigmoid], "4x1o + 4x1e")
        >>> g.irreps_in, g.irreps_out
        (24x0e+4x1o+4x1e, 16x0e+4x1o+4x1e)
        >>> g(ms.Tensor(np.zeros((2, 48)), ms.float32)).shape
        (2, 40)
    """

    def __init__(self, irreps_scalars, act_scalars, irreps_gates, act_gates, irreps_gated, *, dtype=None):
        super().__init__()
        self.dtype = dtype = check_float_dtype(dtype)
        irreps_scalars = Irreps(irreps_scalars)
        irreps_gates = Irreps(irreps_gates)
        irreps_gated = Irreps(irreps_gated)
        if len(irreps_gates) > 0 and irreps_gates.lmax > 0:
            raise ValueError(f"Gate: gate scalars must be scalars, instead got irreps_gates = {irreps_gates}")
        if len(irreps_scalars) > 0 and irreps_scalars.lmax > 0:
            raise ValueError(f"Gate: scalars must be scalars, instead got irreps_scalars = {irreps_scalars}")
        if irreps_gates.num_irreps != irreps_gated.num_irreps:
            raise ValueError(f"Gate: there are {irreps_gated.num_irreps} irreps in irreps_gated = {irreps_gated}, "
                             f"but a different number ({irreps_gates.num_irreps}) of gate scalars in "
                             f"irreps_gates = {irreps_gates}")
        self._irreps_in, self._plan = gate_layout(irreps_scalars, irreps_gates, irreps_gated)
        self.irreps_scalars = irreps_scalars.simplify()
        self.irreps_gates = irreps_gates.simplify()
        self.irreps_gated = irreps_gated.simplify()

        self.act_scalars = Activation(irreps_scalars, act_scalars, dtype=dtype)
        self.act_gates = Activation(irreps_gates, act_gates, dtype=dtype)
        gated_out = elementwise_gated_irreps(irreps_gated, self.act_gates.irreps_out)
        self._irreps_out = self.act_scalars.irreps_out + gated_out

        self._num_gates = irreps_gates.num_irreps
        self._dim_in = self._irreps_in.dim
        self._irreps_str = str(self._irreps_in)
        self._has_scalars = irreps_scalars.dim > 0
        self._has_gated = irreps_gated.dim > 0
        self._index = ms.Tensor(_gather_index(self.irreps_gated), ms.int32)

    @property
    def irreps_in(self):
        """Input representation (sorted, simplified)."""
        return self._irreps_in

    @property
    def irreps_out(self):
        """Output representation."""
        return self._irreps_out

    def __repr__(self):
        return f"{self.__class__.__name__} ({self.irreps_in} -> {self.irreps_out})"

    @staticmethod
    def _take(x, ranges):
        if len(ranges) == 1:
            return x[..., ranges[0][0]:ranges[0][1]]
        return ops.concat([x[..., a:b] for (a, b) in ranges], -1)

    def construct(self, features):
        if features.shape[-1] != self._dim_in:
            raise ValueError(f"Gate: input of irreps {self._irreps_str} needs a last axis of size {self._dim_in}, "
                             f"got shape {features.shape}")
        out = []
        if self._has_scalars:
            out.append(self.act_scalars(self._take(features, self._plan[0])))
        if self._has_gated:
            gates = self.act_gates(self._take(features, self._plan[1]))
            gated = self._take(features, self._plan[2])
            lead = gates.shape[:-1]
            gates = ops.gather(gates.reshape((-1, self._num_gates)), self._index, 1)
            out.append(gated * gates.reshape(lead + (gated.shape[-1],)))
        if len(out) == 2:
            return ops.concat(out, -1)
        if len(out) == 1:
            return out[0]
        return features
