"""Helper of test_check_ascend_ops (run as a script, in a fresh process): compile a graph with a made-up primitive.

``python tests/scripts/made_up_prim_graph.py DIR`` writes the frontend IR dump of ``UsesMadeUpPrim`` to DIR. The
frontend compiles it; the CPU backend then has no kernel for ``MadeUpPrim`` and raises, which is expected.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from scripts import check_ascend_ops as check  # noqa: E402

check.enable_ir_dump()
import mindspore as ms  # noqa: E402
from mindspore import nn  # noqa: E402
from mindspore.ops import PrimitiveWithInfer, prim_attr_register  # noqa: E402


class MadeUpPrim(PrimitiveWithInfer):
    """A primitive no backend has a kernel for (shape and dtype of its input)."""

    @prim_attr_register
    def __init__(self):
        pass

    def infer_shape(self, x_shape):
        return x_shape

    def infer_dtype(self, x_dtype):
        return x_dtype


class UsesMadeUpPrim(nn.Cell):
    def __init__(self):
        super().__init__()
        self.op = MadeUpPrim()

    def construct(self, x):
        return self.op(x * 2.0)


if __name__ == "__main__":
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    with check._Dumped(sys.argv[1], "made up"):
        try:
            UsesMadeUpPrim()(ms.Tensor(np.ones((2, 3), np.float32)))
        except Exception as exc:  # the CPU backend has no kernel for it
            print(f"expected: {type(exc).__name__}")
