"""The numpy tensor-product plan on its own (no MindSpore): e3nn normalisation, grouping, numerical parity."""
import json
import os

import numpy as np
import pytest

from mindchemistry_e3.o3._irreps import Irreps
from mindchemistry_e3.o3._tensor_product._plan import (
    build_plan,
    execute_plan,
    naive_tensor_product,
    normalize_instructions,
)
from tests.plan_isolation import imports_mindspore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_plan_module_imports_no_mindspore():
    assert not imports_mindspore("mindchemistry_e3.o3._tensor_product._plan")


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(os.path.join(ROOT, "tests", "data", "tensor_product.npz")))


def _tp_cases(ref):
    for i in range(int(ref["num_cases"])):
        spec = json.loads(str(ref[f"c{i}_spec"]))
        if spec["cls"] == "TensorProduct":
            yield i, spec


def test_normalization_matches_e3nn(ref):
    n = 0
    for i, spec in _tp_cases(ref):
        a, b, c, instr = spec["args"]
        kw = {k: v for k, v in spec["kwargs"].items() if k != "shared_weights"}
        ins = normalize_instructions(a, b, c, [tuple(x) for x in instr], **kw)
        np.testing.assert_allclose([x.path_weight for x in ins], ref[f"c{i}_path_weight"], rtol=1e-12, atol=0)
        n += 1
    assert n > 20


def test_execute_plan_matches_e3nn(ref):
    for i, spec in _tp_cases(ref):
        a, b, c, instr = spec["args"]
        kw = dict(spec["kwargs"])
        shared = kw.pop("shared_weights", True)
        plan = build_plan(a, b, c, [tuple(x) for x in instr], shared_weights=shared, **kw)
        w = ref[f"c{i}_w"] if f"c{i}_w" in ref else None
        out = execute_plan(plan, ref[f"c{i}_x1"], ref[f"c{i}_x2"], w)
        np.testing.assert_allclose(out, ref[f"c{i}_out"], rtol=1e-10, atol=1e-12, err_msg=str(spec))


MODE_CASES = [
    ("3x0e+2x1o+2x2e", "0e+1o+2e+3o", "3x0e+2x1o+2x2e+2x1e+3x3o", "uvu"),
    ("2x0e+2x1o", "2x0e+3x1o", "3x0e+2x1o+1x1e", "uvw"),
    ("2x0e+2x1o", "2x0e+2x1o", "2x0e+2x1o+2x1e", "uuu"),
    ("2x0e+2x1o", "2x0e+2x1o", "3x0e+2x1o+1x1e", "uuw"),
    ("2x0e+2x1o", "3x0e+3x1o", "3x0e+3x1o+3x1e", "uvv"),
    ("2x0e+2x1o", "3x0e+3x1o", "2x0e+2x1o+2x1e", "uvu"),
    ("2x0e+1x1o", "3x0e+3x1o", "6x0e+6x1o+3x1e", "uvuv"),
    ("3x0e+3x1o", "3x0e+3x1o", "3x0e+3x1o+3x1e", "uvu<v"),
    ("3x0e+3x1o", "3x0e+3x1o", "2x0e+2x1o+2x1e", "u<vw"),
]


def _all_instr(i1, i2, io, mode, rng):
    i1, i2, io = Irreps(i1), Irreps(i2), Irreps(io)
    out = []
    for a, (m1, r1) in enumerate(i1):
        for b, (m2, r2) in enumerate(i2):
            for c, (mo, ro) in enumerate(io):
                ok = {"uvu": m1 == mo, "uvv": m2 == mo, "uvw": True, "uuw": m1 == m2, "uuu": m1 == m2 == mo,
                      "uvuv": m1 * m2 == mo, "uvu<v": m1 == m2 and m1 * (m1 - 1) // 2 == mo, "u<vw": m1 == m2}[mode]
                if ro in r1 * r2 and ok:
                    must = mode in ("uvw", "u<vw") or (mode == "uuw" and mo != 1)
                    out.append((a, b, c, mode, bool(rng.integers(2)) or must))
    return out


@pytest.mark.parametrize("case", MODE_CASES, ids=[c[3] for c in MODE_CASES])
@pytest.mark.parametrize("shared", [True, False])
def test_plan_reproduces_naive_einsum(case, shared):
    rng = np.random.default_rng(1)
    i1, i2, io, mode = case
    instr = _all_instr(i1, i2, io, mode, rng)
    plan = build_plan(i1, i2, io, instr, shared_weights=shared)
    z = 3
    x1 = rng.standard_normal((z, Irreps(i1).dim))
    x2 = rng.standard_normal((z, Irreps(i2).dim))
    w = rng.standard_normal((plan.weight_numel,) if shared else (z, plan.weight_numel))
    ref = naive_tensor_product(i1, i2, io, plan.instructions, x1, x2, w, shared_weights=shared)
    np.testing.assert_allclose(execute_plan(plan, x1, x2, w), ref, rtol=1e-12, atol=1e-12)


def test_groups_grow_slower_than_paths():
    """NequIP-like convolution: many paths, one group per input-1 irrep."""
    i1 = Irreps("32x0e + 32x1o + 32x2e")
    i2 = Irreps("0e + 1o + 2e + 3o")
    instr, out = [], []
    for a, (m, r1) in enumerate(i1):
        for b, (_, r2) in enumerate(i2):
            for r in r1 * r2:
                if r.l <= 3:
                    instr.append((a, b, len(out), "uvu", True))
                    out.append((m, r))
    plan = build_plan(i1, i2, out, instr, shared_weights=False)
    assert plan.num_paths() == len(instr) == 24
    assert len(plan.groups) == 3  # one 2-D MatMul + one BatchMatMul each


def test_fully_connected_is_output_stationary():
    i1, i2 = Irreps("32x0e + 32x1o + 32x2e"), Irreps("0e + 1o + 2e")
    instr = [(a, b, c, "uvw", True) for a, (_, r1) in enumerate(i1) for b, (_, r2) in enumerate(i2)
             for c, (_, r) in enumerate(i1) if r in r1 * r2]
    plan = build_plan(i1, i2, i1, instr)
    assert not plan.groups and len(plan.ostat.in_blocks) == 3 and len(plan.ostat.outs) == 3
    assert plan.num_paths() == len(instr) == 11


def test_cg_blocks_are_scaled_by_path_weight():
    plan = build_plan("1o", "1o", "0e", [(0, 0, 0, "uuu", False, 4.0)], irrep_normalization="none",
                      path_normalization="none")
    # w3j(1,1,0) = delta / sqrt(3); path weight sqrt(4) = 2
    np.testing.assert_allclose(plan.groups[0].cg.reshape(3, 3), 2 * np.eye(3) / np.sqrt(3), atol=1e-15)


@pytest.mark.parametrize("bad, match", [
    (dict(instructions=[(0, 0, 0, "uvx", True)]), "unknown connection mode 'uvx'"),
    (dict(instructions=[(0, 3, 0, "uvu", True)]), "i_in2=3 out of range"),
    (dict(instructions=[(0, 0, 5, "uvu", True)]), "i_out=5 out of range"),
    (dict(instructions=[(0, 0, 1, "uvu", True)]), "parity"),
    (dict(irreps_out="2x2o", instructions=[(0, 0, 0, "uvu", True)]), "selection rule"),
    (dict(irreps_out="3x1o", instructions=[(0, 0, 0, "uvu", True)]), "mul_in1 == mul_out"),
    (dict(instructions=[(0, 0, 0, "uvu", True)], irrep_normalization="unit"), "irrep_normalization"),
    (dict(instructions=[(0, 0, 0, "uvu", True)], path_normalization="all"), "path_normalization"),
    (dict(instructions=[(0, 0, 0, "uvu", True)], in1_var=[1.0, 2.0]), "in1_var has 2 entries"),
])
def test_bad_instructions(bad, match):
    kw = dict(irreps_in1="2x1o", irreps_in2="0e", irreps_out="2x1o + 2x1e")
    kw.update(bad)
    with pytest.raises(ValueError, match=match) as err:
        build_plan(**kw)
    assert "2x1o x 1x0e" in str(err.value)  # names the module's irreps
