"""scripts/check_ascend_ops.py: primitives read from compiled graphs and looked up in the Ascend plugin."""
import json
import os
import subprocess
import sys

import pytest
from mindspore import nn

from scripts import check_ascend_ops as check

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "check_ascend_ops.py")

PLUGIN = check._plugin_dir()
pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(PLUGIN, "libmindspore_ops_ascend.so")),
    reason="this MindSpore wheel ships no Ascend plugin")


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


def _run_script(*args):
    """The check in a fresh process (MindSpore reads MS_DEV_SAVE_GRAPHS at a process's first compile)."""
    return subprocess.run([sys.executable, SCRIPT, "--quiet", *args], capture_output=True, text=True, check=False,
                          env=dict(os.environ, OMP_NUM_THREADS="1", GLOG_v="3"))


def test_reduced_set_passes_and_writes_the_table(tmp_path):
    out = tmp_path / "ops.json"
    res = _run_script("--cells", "o3.Linear,nn.Gate", "--no-nequip", "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    table = json.loads(out.read_text())
    rows = {r["primitive"]: r for r in table["rows"]}
    assert set(table["graphs"]) == {"o3.Linear fwd", "o3.Linear fwd+bwd", "nn.Gate fwd", "nn.Gate fwd+bwd"}
    assert rows["BatchMatMul"]["verdict"] == "aclnn" and "o3.Linear fwd" in rows["BatchMatMul"]["used_by"]
    assert "nn.Gate fwd" in rows["Gather"]["used_by"] and rows["Gather"]["verdict"] == "GE"
    assert all(r["verdict"] != "MISSING" for r in table["rows"])
    assert "| BatchMatMul | aclnn |" in check.to_markdown(table["rows"], dict(table["meta"], failures={}))


def test_made_up_primitive_fails(tmp_path, graph_mode):
    res = subprocess.run([sys.executable, os.path.join(HERE, "made_up_prim_graph.py"), str(tmp_path)],
                         capture_output=True, text=True, check=False, env=dict(os.environ, GLOG_v="3"))
    assert res.returncode == 0 and "expected" in res.stdout, res.stderr[-2000:]
    ir_files = [str(p) for p in tmp_path.rglob("*validate*.ir")]
    assert ir_files
    with open(ir_files[0], encoding="utf-8") as fh:
        assert {"MadeUpPrim", "Muls"} <= check.primitives_in_ir(fh.read())
    assert check.main(["--cells", "none", "--no-nequip", "--quiet", "--ir", ir_files[0]]) == 1
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
