r"""Gate activation (e3nn's ``Gate``): activated scalars, plus gated irreps multiplied by activated gate scalars.

.. math::

    \left(\bigoplus_i \phi_i(x_i)\right) \oplus \left(\bigoplus_j \phi_j(g_j)\, y_j\right)

Input layout (e3nn's): the three simplified representations ``irreps_scalars + irreps_gates + irreps_gated``
concatenated and **sorted** (stable sort by irrep), so ``irreps_in`` is that sorted, simplified sum; e.g. scalars
``16x0e`` and gates ``8x0e`` share one ``24x0e`` block, scalars first. Output: ``act_scalars.irreps_out`` then the
gated irreps, each copy's parity multiplied by its gate's parity (e3nn's ``ElementwiseTensorProduct`` of
``irreps_gated`` and the activated gates, split to common multiplicities).

Lowering (planned once by :func:`gate_plan`): one column gather puts the input's scalar and gate columns in runs
that share an activation function (the identity when the input's order already does), each activation is applied
once to its run, and one column gather of the activated runs gives the output scalars followed by every gate
repeated over the ``2l+1`` components of its gated copy; one elementwise multiply with the gated irreps (the same
numbers as the elementwise tensor product, whose paths ``0 x l -> l`` have coefficient one). On CPU, with silu,
sigmoid, tanh or no activations, all of that is one fused kernel per derivative order (``native``,
:mod:`._gate_cpu`).

>>> from mindspore import ops
>>> g = Gate("16x0o", [ops.tanh], "32x0o", [ops.tanh], "16x1e+16x1o")
>>> g.irreps_in, g.irreps_out
(48x0o+16x1o+16x1e, 16x0o+16x1o+16x1e)
"""
from typing import NamedTuple

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..o3._irreps import Irreps
from ..o3._tensor_product._sub import align_multiplicities
from ..util._cell import PlanCell, kernel_takes, plan_tensors
from ..util._column_map import take_columns
from ..util._column_map_np import column_map, is_identity
from ._activation import Activation
from ._extract import extract_plan
from ._gate_cpu import fused_gate


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


class GatePlan(NamedTuple):
    """What the Gate's ``construct`` executes.

    Fields:
        in_map (ColumnMap or None): the input -> ``[activation runs | unactivated scalars | gated]``; None when
            that is the input's order.
        sizes (tuple[int]): the pieces that splits into (empty pieces left out).
        runs (tuple[int]): for each piece, the index of its activation among the distinct ones, -1 for the
            unactivated scalars, -2 for the gated irreps.
        out_map (ColumnMap or None): the activated runs -> ``[output scalars | gate of every gated component]``.
        num_scalars (int): output scalars (columns before the expanded gates).
    """

    in_map: object
    sizes: tuple
    runs: tuple
    out_map: object
    num_scalars: int


def _columns(ranges):
    return [c for a, b in ranges for c in range(a, b)]


def gate_plan(dim_in, ranges, acts_scalars, acts_gates, gate_index):
    """Plan the Gate: ``ranges`` are the input column ranges of scalars, gates and gated irreps (``gate_layout``),
    ``acts_*`` the activation key of every scalar / gate column (None: no activation), ``gate_index`` the gate of
    every gated component. Returns ``(GatePlan, keys)`` with ``keys`` the distinct activations in run order.

    >>> plan, keys = gate_plan(6, (((0, 2),), ((2, 3),), ((3, 6),)), ["f", "g"], ["f"], [0, 0, 0])
    >>> plan.sizes, plan.runs, keys, plan.num_scalars
    ((2, 1, 3), (0, 1, -2), ['f', 'g'], 2)
    """
    scal_cols, gate_cols, gated_cols = (_columns(r) for r in ranges)
    keys, run_cols = [], {}
    for col, key in list(zip(scal_cols, acts_scalars)) + list(zip(gate_cols, acts_gates)):
        if key is not None and key not in keys:
            keys.append(key)
        run_cols.setdefault(key, []).append(col)
    order = [k for k in keys] + ([None] if None in run_cols else [])
    sources, sizes, runs, position = [], [], [], {}
    for key in order:
        for col in sorted(run_cols[key]):
            position[col] = len(sources)
            sources.append([col])
    # pieces: one per run in input order, then the unactivated scalars, then the gated irreps
    for key in order:
        sizes.append(len(run_cols[key]))
        runs.append(keys.index(key) if key is not None else -1)
    if gated_cols:
        sources += [[c] for c in gated_cols]
        sizes.append(len(gated_cols))
        runs.append(-2)
    in_map = column_map(sources, dim_in)
    n_act = len(position)
    out_sources = [[position[c]] for c in scal_cols] + [[position[gate_cols[g]]] for g in gate_index]
    out_map = column_map(out_sources, n_act)
    return GatePlan(None if is_identity(in_map, dim_in) else in_map, tuple(sizes), tuple(runs),
                    None if is_identity(out_map, n_act) else out_map, len(scal_cols)), keys


def _activation_keys(activation):
    """The normalised activation Cell of every column of an :class:`Activation`'s input (None: identity)."""
    keys = []
    for start, stop, k in activation._paths:  # pylint: disable=protected-access
        keys += [None if k < 0 else activation.acts[k]] * (stop - start)
    return keys


def _same_function(cell):
    """A hashable key of a normalised activation: its function and constant (equal ones share a run)."""
    return None if cell is None else (id(cell.f), float(cell.cst))


class Gate(PlanCell):
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
        - **in_layout** (bool, optional) - True: ``features [Z, irreps_in.dim]`` are in the gate's working layout,
          ``features @ input_map`` (``input_map``: a ColumnMap, None for the identity), as a producer that folds
          ``input_map`` into its own output map writes them (:class:`~mindchemistry_e3.o3.StackedSum`). Default
          False.

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)``.

    Raises:
        ValueError: if gates or scalars are not scalars, if the number of gates differs from the number of gated
            irreps, or for a wrong number of activations / a parity-violating activation.

    Supported Platforms:
        ``Ascend`` ``CPU``

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
        super().__init__("Gate", dtype)
        dtype = self.dtype
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

        self._dim_in = self._irreps_in.dim
        self._irreps_str = str(self._irreps_in)
        cells_s, cells_g = _activation_keys(self.act_scalars), _activation_keys(self.act_gates)
        by_key = {}
        for cell in cells_s + cells_g:
            if cell is not None:
                by_key.setdefault(_same_function(cell), cell)
        plan, keys = gate_plan(self._dim_in, self._plan, [_same_function(c) for c in cells_s],
                               [_same_function(c) for c in cells_g], _gather_index(self.irreps_gated))
        self.input_map = plan.in_map  # numpy: a producer folds it into its own output map (in_layout=True)
        self.plan = plan_tensors(plan, dtype)
        self.run_acts = nn.CellList([by_key[k] for k in keys] or [nn.Identity()])
        # the activations and the gating in one kernel per derivative order on CPU (None: the plain ops)
        self.native = fused_gate(plan, [by_key[k] for k in keys]) if len(plan.runs) > 0 else None

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

    def construct(self, features, in_layout=False):
        if in_layout:  # a producer wrote the working layout, features @ input_map (StackedSum's output_map)
            if features.ndim != 2 or features.shape[1] != self._dim_in:
                raise ValueError(f"Gate: input of irreps {self._irreps_str} in its working layout needs shape "
                                 f"[Z, {self._dim_in}], got {features.shape}")
            return self._gate(features, features)
        if features.shape[-1] != self._dim_in:
            raise ValueError(f"Gate: input of irreps {self._irreps_str} needs a last axis of size {self._dim_in}, "
                             f"got shape {features.shape}")
        plan = self.plan
        lead = features.shape[:-1]
        x = features.reshape(-1, self._dim_in)
        if plan.in_map is not None:
            x = take_columns(x, plan.in_map)
        out = self._gate(x, features)
        return out.reshape(lead + (out.shape[-1],))

    def _gate(self, x, features):
        """The activations and gating of ``x [Z, dim_in]`` in the working layout (``features`` is returned when
        nothing is activated)."""
        if self.native is not None and kernel_takes(x):
            return self.native(x)
        plan = self.plan
        pieces = self.split(x, plan.sizes, 1)
        activated = ()
        gated = None
        for i in range(len(plan.runs)):
            r = plan.runs[i]
            if r >= 0:
                activated = activated + (self.run_acts[r](pieces[i]),)
            elif r == -1:
                activated = activated + (pieces[i],)
            else:
                gated = pieces[i]
        if len(activated) == 0:
            return features
        a = activated[0] if len(activated) == 1 else ops.concat(activated, 1)
        if plan.out_map is not None:
            a = take_columns(a, plan.out_map)
        if gated is None:
            out = a
        elif plan.num_scalars == 0:
            out = gated * a
        else:
            scalars, gates = self.split(a, (plan.num_scalars, a.shape[1] - plan.num_scalars), 1)
            out = ops.concat((scalars, gated * gates), 1)
        return out
