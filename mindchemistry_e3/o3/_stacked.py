"""Execute a :class:`~mindchemistry_e3.o3._stacked_np.StackedPlan` inside ``construct`` (shared by ``o3.Linear`` and
the tensor products whose second input holds only scalars): the features gathered into the components' slots,
one BatchMatMul ``[C, Z, X] @ [C, X, M]`` against the block weights gathered from the flat weight, and one
column gather into e3nn's output layout.

>>> import numpy as np, mindspore as ms
>>> from mindchemistry_e3.util._cell import plan_tensors
>>> from mindchemistry_e3.o3._linear_plan import linear_plan, linear_stacked_plan
>>> sp = plan_tensors(linear_stacked_plan(linear_plan("2x0e + 1o", "0e + 1o")), ms.float32)
>>> stacked_matmul(ms.Tensor(np.ones((4, 5), np.float32)), ms.Tensor(np.ones(3, np.float32)), sp).shape
(4, 4)
"""
from mindspore import ops

from ..util._column_map import take_columns

__all__ = ["stacked_matmul"]

_MATMUL = ops.MatMul()  # the primitives: their backward is transposed-operand products (faster on CPU)
_BMM = ops.BatchMatMul()


def stacked_matmul(features, weight, plan):
    """``features [Z, n_features]`` and the flat ``weight`` through ``plan`` -> ``[Z, dim_out]``."""
    z = features.shape[0]
    # ops.gather, not util.graph.gather_rows: a Parameter fed straight into a custom-bprop Cell comes out rounded to
    # float32 when a graph differentiates w.r.t. inputs and Parameters (MindSpore 2.10)
    w = ops.gather(weight, plan.weight_index, 0) * plan.weight_coef  # [C, X, M]
    f = features if plan.in_map is None else take_columns(features, plan.in_map)
    if plan.components == 1:
        y = _MATMUL(f, w.reshape(plan.slots, plan.chunk))
    else:
        f = ops.transpose(f.reshape(z, plan.components, plan.slots), (1, 0, 2))
        y = ops.transpose(_BMM(f, w), (1, 0, 2)).reshape(z, plan.components * plan.chunk)
    return y if plan.out_map is None else take_columns(y, plan.out_map)
