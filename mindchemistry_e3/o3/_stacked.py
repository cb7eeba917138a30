"""Execute a :class:`~mindchemistry_e3.o3._stacked_np.StackedPlan` inside ``construct`` (shared by ``o3.Linear``, the
tensor products whose second input holds only scalars and :class:`StackedSum`, a sum of such maps): on the transposed features ``[n, Z]``, one row gather
into the components' slots, one BatchMatMul ``[C, X, M]^T @ [C, X, Z]`` against the block weights gathered from the
flat weight, one row gather into e3nn's output order, and a transpose back (rows are contiguous copies: picking
them is 2-5x faster on CPU than picking columns). On a CPU target the same plan runs as fused native kernels, weight
blocks and column maps included (:func:`stacked_native`, :mod:`._stacked_cpu`).

>>> import numpy as np, mindspore as ms
>>> from mindchemistry_e3.util._cell import plan_tensors
>>> from mindchemistry_e3.o3._linear_plan import linear_plan, linear_stacked_plan
>>> sp = plan_tensors(linear_stacked_plan(linear_plan("2x0e + 1o", "0e + 1o")), ms.float32)
>>> stacked_matmul(ms.Tensor(np.ones((4, 5), np.float32)), ms.Tensor(np.ones(3, np.float32)), sp, ms.ops.MatMul(),
...                ms.ops.BatchMatMul(transpose_a=True)).shape
(4, 4)
"""
from mindspore import ops

from ..util._cell import PlanCell, plan_tensors
from ..util._column_map import take_columns, take_rows
from ._stacked_cpu import fused_stacked
from ._stacked_np import stacked_sum_plan

__all__ = ["stacked_matmul", "stacked_blocks", "stacked_native", "StackedSum", "STACKED_MAX_SIZE"]

# Inputs up to this many elements take the one-BatchMatMul lowering (fewer ops: a faster compile and fewer kernel
# launches, which dominate at node-level sizes); larger ones the per-irrep MatMuls, whose slices and transposes move
# less data than the stacked lowering's gathers (measured on CPU: 20,000 x 576 inputs are ~1.5x faster per irrep; the
# paper-size NequIP's Lin_2 + self-connection, 128 x 19,000 features, 17 % slower per train step when stacked).
STACKED_MAX_SIZE = 1 << 20

def stacked_native(plan, dtype, compute_dtype, numel, weights=None):
    """The fused CPU kernels of the numpy ``plan`` on flat weights of sizes ``numel``
    (:class:`._stacked_cpu.FusedStacked`; ``weights`` the maps' ``(weight_index, weight_coef)`` of a sum), or None
    where the plain ops run: no native kernels, a ``compute_dtype`` (the precision policy's low-precision products),
    or a plan that is one plain MatMul (one component, no column maps)."""
    if plan is None or compute_dtype is not None or (
            plan.components == 1 and plan.in_map is None and plan.out_map is None):
        return None
    return fused_stacked(plan, dtype, numel, weights)


def stacked_matmul(features, weight, plan, matmul, bmm_ta, native=None):
    """``features [Z, n_features]`` and the flat ``weight`` through ``plan`` -> ``[Z, dim_out]``; ``matmul`` and
    ``bmm_ta`` are the module's products: ``ops.MatMul()`` and ``ops.BatchMatMul(transpose_a=True)`` (primitives:
    their backward is transposed-operand products, faster on CPU), possibly in a compute dtype
    (:mod:`mindchemistry_e3.util.precision`); ``native`` the plan's :func:`stacked_native` (None: plain ops)."""
    if native is not None:  # the weight blocks, the column maps and the product in one kernel (CPU)
        return native(features, (weight,))
    # ops.gather, not util.graph.gather_rows: a Parameter fed straight into a custom-bprop Cell comes out rounded to
    # float32 when a graph differentiates w.r.t. inputs and Parameters (MindSpore 2.10)
    return stacked_blocks(features, ops.gather(weight, plan.weight_index, 0) * plan.weight_coef, plan, matmul, bmm_ta)


def stacked_blocks(features, w, plan, matmul, bmm_ta):
    """:func:`stacked_matmul` with the block weights ``w [C, X, M]`` given."""
    z = features.shape[0]
    if plan.components == 1 and plan.out_map is None:  # one block of scalars-like rows: a plain MatMul
        f = features if plan.in_map is None else take_columns(features, plan.in_map)
        return matmul(f, w.reshape(plan.slots, plan.chunk))
    ft = ops.transpose(features, (1, 0))  # [n, Z]
    if plan.in_map is not None:
        ft = take_rows(ft, plan.in_map)  # [C * X, Z]
    y = bmm_ta(w, ft.reshape(plan.components, plan.slots, z)).reshape(plan.components * plan.chunk, z)
    if plan.out_map is not None:
        y = take_rows(y, plan.out_map)
    return ops.transpose(y, (1, 0))


class StackedSum(PlanCell):
    r"""The sum of equivariant linear maps with the same output irreps as one BatchMatMul: their features side by
    side and their flat weights concatenated, the terms of every output component sharing one row of slots
    (:func:`~mindchemistry_e3.o3._stacked_np.stacked_sum_plan`). NequIP's ``Linear(h) + SC(x, z)`` runs so, at
    the kernel count of one map. The weights stay the maps' Parameters (this Cell has none); the sum equals the maps
    evaluated one by one up to rounding. For large inputs (:meth:`fits` False) the maps' own per-irrep lowering is
    faster: evaluate them one by one there.

    Args:
        maps (list): :class:`~mindchemistry_e3.o3.Linear` and
            :class:`~mindchemistry_e3.o3.TensorProduct` cells whose ``stack_terms()`` is not None (shared weights;
            no channels or biases; products only with a scalar second input), same ``irreps_out``, dtype and
            ``compute_dtype``.
        input_maps (list, optional): per map a ColumnMap (:mod:`mindchemistry_e3.util._column_map_np`) or None:
            that map's features are given in another layout, ``features = raw @ M`` -- e.g. a
            :class:`~mindchemistry_e3.o3.TensorProductConv`'s results with ``mapped=False`` and its ``result_map``.
        output_map (ColumnMap, optional): the sum is returned in its consumer's layout, ``y @ M`` -- e.g. a
            :class:`~mindchemistry_e3.nn.Gate`'s ``input_map``, then called with ``in_layout=True``. Both maps are
            folded into the product's own column maps (no extra op).

    Inputs:
        - **features** (tuple[Tensor]) - per map ``[Z, n_features]``: a Linear's input, a tensor product's
          ``stack_features(x1, x2)`` (``[Z, width]`` of the raw layout where an input map is given).
        - **weights** (tuple[Tensor]) - per map its flat weight ``[weight_numel]``: the Parameters themselves, read
          in the ``construct`` of a Cell that holds the maps (a Parameter is no top-level input of a graph).

    Outputs:
        Tensor ``[Z, irreps_out.dim]`` (``[Z, width]`` of ``output_map`` when given).

    Raises:
        ValueError: at build time when a map cannot be stacked or the maps disagree; at call time on wrong shapes.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> from mindchemistry_e3 import o3
        >>> lin = o3.Linear("4x0e + 2x1o", "3x0e + 1x1o")
        >>> sc = o3.FullyConnectedTensorProduct("2x0e + 1x1o", "2x0e", "3x0e + 1x1o")
        >>> x, y, z = np.ones((5, 10), np.float32), np.ones((5, 5), np.float32), np.ones((5, 2), np.float32)
        >>> x, y, z = ms.Tensor(x), ms.Tensor(y), ms.Tensor(z)
        >>> out = StackedSum([lin, sc])((x, sc.stack_features(y, z)), (lin.weight, sc.weight))
        >>> bool(np.allclose(out.asnumpy(), (lin(x) + sc(y, z)).asnumpy(), atol=1e-5))
        True
    """

    def __init__(self, maps, input_maps=None, output_map=None):
        maps = list(maps)
        if not maps:
            raise ValueError("StackedSum: no maps")
        first = maps[0]
        super().__init__(f"StackedSum({' + '.join(type(m).__name__ for m in maps)} -> {first.irreps_out})",
                         first.dtype, first.compute_dtype)
        terms = []
        for m in maps:
            t = m.stack_terms() if hasattr(m, "stack_terms") else None
            if t is None:
                raise ValueError(f"{self._name}: {m!r} is not a stacked linear map (shared weights, no channels or "
                                 f"biases, products only with a scalar second input)")
            if m.irreps_out != first.irreps_out or m.dtype != first.dtype or m.compute_dtype != first.compute_dtype:
                raise ValueError(f"{self._name}: every map needs irreps_out {first.irreps_out}, dtype {first.dtype} "
                                 f"and compute_dtype {first.compute_dtype}; {m!r} has {m.irreps_out}, {m.dtype}, "
                                 f"{m.compute_dtype}")
            terms.append(t)
        self.irreps_out = first.irreps_out
        try:
            plan = stacked_sum_plan(terms, input_maps, output_map)
        except ValueError as err:
            raise ValueError(f"{self._name}: {err}") from None
        if plan is None:
            raise ValueError(f"{self._name}: the maps have no weighted path")
        self._n_features = plan.n_features
        self._weight_numel = tuple(int(t.weight_numel) for t in terms)
        self.dim_out = self.irreps_out.dim if output_map is None else int(output_map.index.shape[-1])
        self._plan = plan_tensors(plan, self.dtype)
        self._bmm_ta = self.product(ops.BatchMatMul(transpose_a=True))
        self.native = stacked_native(plan.stacked, self.dtype, self.compute_dtype, self._weight_numel,
                                     list(zip(plan.weight_index, plan.weight_coef)))

    def fits(self, z):
        """Whether ``z`` rows stay within the size of the one-BatchMatMul lowering (:data:`STACKED_MAX_SIZE`, as
        :class:`~mindchemistry_e3.o3.Linear`); above it, evaluate the maps one by one (their per-irrep lowering)."""
        return z * sum(self._n_features) <= STACKED_MAX_SIZE

    def construct(self, features, weights):
        n = len(self._n_features)
        if len(features) != n or len(weights) != n:
            raise ValueError(f"{self._name}: expected {n} features and {n} weights, got {len(features)} and "
                             f"{len(weights)}")
        z = features[0].shape[0]
        for i in range(n):
            if features[i].shape != (z, self._n_features[i]):
                raise ValueError(f"{self._name}: features of map {i} must have shape [Z, {self._n_features[i]}] "
                                 f"with Z = {z}, got {features[i].shape}")
            if weights[i].shape != (self._weight_numel[i],):
                raise ValueError(f"{self._name}: weight of map {i} must have shape [{self._weight_numel[i]}], "
                                 f"got {weights[i].shape}")
            self.check_dtype(features[i], weights[i])
        if z == 0:
            return ops.zeros((0, self.dim_out), self.dtype)
        f = features[0] if n == 1 else ops.concat(features, 1)
        if self.native is not None:
            return self.native(f, weights)
        plan = self._plan
        w = ops.gather(weights[0], plan.weight_index[0], 0) * plan.weight_coef[0]
        for i in range(1, n):
            w = w + ops.gather(weights[i], plan.weight_index[i], 0) * plan.weight_coef[i]
        return stacked_blocks(f, w, plan.stacked, self._matmul, self._bmm_ta)
