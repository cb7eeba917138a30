"""Execute a :class:`~mindchemistry_e3.o3._stacked_np.StackedPlan` inside ``construct`` (shared by ``o3.Linear`` and
the tensor products whose second input holds only scalars): on the transposed features ``[n, Z]``, one row gather
into the components' slots, one BatchMatMul ``[C, X, M]^T @ [C, X, Z]`` against the block weights gathered from the
flat weight, one row gather into e3nn's output order, and a transpose back (rows are contiguous copies: picking
them is 2-5x faster on CPU than picking columns).

>>> import numpy as np, mindspore as ms
>>> from mindchemistry_e3.util._cell import plan_tensors
>>> from mindchemistry_e3.o3._linear_plan import linear_plan, linear_stacked_plan
>>> sp = plan_tensors(linear_stacked_plan(linear_plan("2x0e + 1o", "0e + 1o")), ms.float32)
>>> stacked_matmul(ms.Tensor(np.ones((4, 5), np.float32)), ms.Tensor(np.ones(3, np.float32)), sp, ms.ops.MatMul(),
...                ms.ops.BatchMatMul(transpose_a=True)).shape
(4, 4)
"""
from mindspore import ops

from ..util._column_map import take_columns, take_rows

__all__ = ["stacked_matmul"]

def stacked_matmul(features, weight, plan, matmul, bmm_ta):
    """``features [Z, n_features]`` and the flat ``weight`` through ``plan`` -> ``[Z, dim_out]``; ``matmul`` and
    ``bmm_ta`` are the module's products: ``ops.MatMul()`` and ``ops.BatchMatMul(transpose_a=True)`` (primitives:
    their backward is transposed-operand products, faster on CPU), possibly in a compute dtype
    (:mod:`mindchemistry_e3.util.precision`)."""
    z = features.shape[0]
    # ops.gather, not util.graph.gather_rows: a Parameter fed straight into a custom-bprop Cell comes out rounded to
    # float32 when a graph differentiates w.r.t. inputs and Parameters (MindSpore 2.10)
    w = ops.gather(weight, plan.weight_index, 0) * plan.weight_coef  # [C, X, M]
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
