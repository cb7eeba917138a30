"""scripts/check_ascend_ops.py: primitives read from compiled graphs and looked up in the Ascend plugin."""
import json
import os

import numpy as np
import mindspore as ms
import pytest
from mindspore import nn
from mindspore.ops import PrimitiveWithInfer, prim_attr_register

from scripts import check_ascend_ops as check

PLUGIN = check._plugin_dir()
pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(PLUGIN, "libmindspore_ops_ascend.so")),
    reason="this MindSpore wheel ships no Ascend plugin")


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


@pytest.fixture(scope="module")
def kernels():
    return check.ascend_kernels(PLUGIN)


def test_kernel_tables_know_the_documented_cases(kernels):
    rows = {p: check.classify(p, kernels) for p in
            ("Mul", "BatchMatMul", "SplitWithSize", "Gather", "Unstack", "UnsortedSegmentSum", "MakeTuple",
             "Reshape")}
    assert rows["Mul"]["aclnn"] == "kbk:AclnnMulKernelMod" and rows["Mul"]["verdict"] == "aclnn"
    assert rows["BatchMatMul"]["aclnn"] == "kbk:BMMAclnnKernelMod"  # abbreviated class name
    assert rows["SplitWithSize"]["verdict"] == "aclnn"
    assert rows["Gather"]["verdict"] == "GE" and rows["Gather"]["ge_adapter"] == "GatherV2"
    assert rows["Unstack"]["ge_adapter"] == "Unpack"  # renamed GE op
    assert rows["UnsortedSegmentSum"]["verdict"] == "GE" and rows["UnsortedSegmentSum"]["aicpu"]
    assert rows["MakeTuple"]["verdict"] == "virtual" and rows["Reshape"]["verdict"] == "nop"
    assert check.classify("MadeUpPrim", kernels)["verdict"] == "MISSING"


def test_primitives_in_ir_reads_cnodes_only():
    text = ("  %0(x) = PrimFunc_Mul(%para1_x, %para2_y) cnode_attrs: {}\n"
            "  %1(CNode_2) = MakeTuple(%0)\n"
            "  %2(CNode_3) = @sub_graph_4(%1)\n"
            "  %3(CNode_5) = %2(%0)\n"
            "  Return(%1)\n")
    assert check.primitives_in_ir(text) == {"Mul", "MakeTuple"}


def test_reduced_set_passes_and_writes_the_table(tmp_path, graph_mode):
    out = tmp_path / "ops.json"
    md = tmp_path / "ops.md"
    assert check.main(["--cells", "o3.Linear,nn.Gate", "--no-nequip", "--quiet", "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    rows = {r["primitive"]: r for r in table["rows"]}
    assert set(table["graphs"]) == {"o3.Linear fwd", "o3.Linear fwd+bwd", "nn.Gate fwd", "nn.Gate fwd+bwd"}
    assert rows["MatMul"]["verdict"] == "aclnn" and "o3.Linear fwd" in rows["MatMul"]["used_by"]
    assert "nn.Gate fwd" in rows["Gather"]["used_by"] and rows["Gather"]["verdict"] == "GE"
    assert all(r["verdict"] != "MISSING" for r in table["rows"])
    assert check.main(["--cells", "o3.Linear", "--no-nequip", "--quiet", "--out", str(md)]) == 0
    assert "| MatMul | aclnn |" in md.read_text()


def test_made_up_primitive_fails(tmp_path, graph_mode):
    with check._Dumped(str(tmp_path), "made up") as dump:
        with pytest.raises(Exception):  # compiles through the frontend, then the CPU backend has no kernel
            UsesMadeUpPrim()(ms.Tensor(np.ones((2, 3), np.float32)))
    prims, n_files = dump.primitives()
    assert n_files >= 1 and {"MadeUpPrim", "Muls"} <= prims
    ir_file = next(str(p) for p in tmp_path.rglob("*validate*.ir"))
    assert check.main(["--cells", "none", "--no-nequip", "--quiet", "--ir", ir_file]) == 1
    assert check.main(["--cells", "none", "--no-nequip", "--quiet", "--extra-prim", "MadeUpPrim"]) == 1
    assert check.main(["--cells", "none", "--no-nequip", "--quiet", "--extra-prim", "Mul"]) == 0


def test_every_public_cell_has_a_representative_instance():
    import inspect

    import mindchemistry_e3 as m3

    known = set(check._cell_builders())
    for mod in ("o3", "nn", "math"):
        module = getattr(m3, mod)
        for name in getattr(module, "__all__", dir(module)):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) and issubclass(obj, nn.Cell):
                assert any(k == f"{mod}.{name}" or k.startswith(f"{mod}.{name}(") for k in known), \
                    f"{mod}.{name} has no instance in scripts/check_ascend_ops.py"
