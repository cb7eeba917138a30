"""o3.TensorProductConv: its numpy plan against e3nn's per-path formulas, the Cell against e3nn 0.6.0 and against
TensorProduct + gather + scatter (both modes, fused and unfused), equivariance, float64 finite differences (first
and second order, graph mode), bad input named."""
import json

import numpy as np
import pytest
import mindspore as ms
from mindspore import nn

from mindchemistry_e3 import o3
from mindchemistry_e3.o3 import Irreps, TensorProductConv, uvu_instructions
from mindchemistry_e3.o3._tensor_product._conv_plan import build_conv_plan, conv_plan_support, execute_conv_plan
from mindchemistry_e3.o3._tensor_product._plan import naive_tensor_product, normalize_instructions
from mindchemistry_e3.util._column_map_np import apply_column_map, column_map, column_sources
from mindchemistry_e3.util.graph import gather_rows, segment_sum
from tests.nn.nn_testing import finite_difference, irreps_D, random_rotations
from tests.plan_isolation import imports_mindspore
from mindchemistry_e3.util import native_kernels


@pytest.fixture(autouse=True, params=["native", "plan"])
def lowering_on_cpu(request):
    """Every test twice: with the native CPU kernels where they apply (uvu paths) and with the plan alone."""
    with native_kernels(request.param == "native"):
        yield request.param

F64 = ms.float64


def uvu(irreps_in, irreps_sh, irreps_hidden):
    """NequIP's instructions: every reachable irrep of ``irreps_hidden``, one output per path, outputs sorted."""
    mid, ins = uvu_instructions(irreps_in, irreps_sh, irreps_hidden)
    return Irreps(irreps_in), Irreps(irreps_sh), mid, ins


def fully_connected(irreps_in1, irreps_in2, irreps_out):
    """FullyConnectedTensorProduct's instructions (every allowed path, ``uvw``)."""
    i1, i2, io = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    ins = [(a, b, c, "uvw", True) for a, (_, r1) in enumerate(i1) for b, (_, r2) in enumerate(i2)
           for c, (_, ro) in enumerate(io) if ro in r1 * r2]
    return i1, i2, io, ins


CASES = {  # name: (irreps_in1, irreps_in2, irreps_out, instructions); fused unless the name says otherwise
    "nequip_first_layer": uvu("4x0e", "0e + 1o", "4x0e + 4x0o + 4x1o + 4x1e"),
    "nequip_lmax1": uvu("3x0e + 3x0o + 3x1o + 3x1e", "0e + 1o", "3x0e + 3x0o + 3x1o + 3x1e"),
    "nequip_lmax3": uvu("2x0e + 2x1o + 2x2e + 2x3o", "0e + 1o + 2e + 3o", "2x0e + 2x1o + 2x2e + 2x3o + 2x1e"),
    "fully_connected": fully_connected("3x0e + 2x1o + 2x2e", "0e + 1o + 2e", "2x0e + 3x1o + 2x1e + 1x2e"),
    "uvu_uvw_shared_outputs": ("3x0e + 2x1o", "0e + 1o", "3x0e + 2x1o + 3x1o",
                               [(0, 0, 0, "uvu", True), (1, 1, 0, "uvw", True), (0, 1, 2, "uvu", True),
                                (1, 0, 1, "uvu", True), (1, 0, 2, "uvw", True)]),
    "outputs_without_paths": ("2x0e + 2x1o", "1o", "2x0e + 2x1e + 2x2e + 3x0o",
                              [(1, 0, 0, "uvu", True), (1, 0, 1, "uvu", True)]),
    "unfused_edge_multiplicity": ("2x0e + 2x1o", "2x1o", "2x0e + 2x1o", [(1, 0, 0, "uvu", True),
                                                                          (0, 0, 1, "uvv", True)]),
    "unfused_modes": ("2x0e + 2x1o", "0e + 1o", "2x1o + 1x0e + 1x1e",
                      [(1, 1, 1, "uvv", True), (1, 0, 0, "uvu", False), (0, 1, 0, "uvu", True),
                       (1, 1, 2, "uvw", True)]),
}


def random_graph(conv, num_nodes=6, num_edges=17, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_nodes, conv.irreps_in1.dim))
    a = rng.normal(size=(num_edges, conv.irreps_in2.dim))
    w = rng.normal(size=(num_edges, conv.weight_numel))
    src = rng.integers(0, num_nodes, num_edges).astype(np.int32)
    dst = rng.integers(0, num_nodes, num_edges).astype(np.int32)
    return x, a, w, src, dst


def reference(irreps_in1, irreps_in2, irreps_out, instructions, x, a, w, src, dst, scale=1.0, num_nodes=None):
    """e3nn's formulas path by path (independent of the plans), messages summed at dst."""
    ins = normalize_instructions(irreps_in1, irreps_in2, irreps_out, instructions)
    msg = naive_tensor_product(irreps_in1, irreps_in2, irreps_out, ins, x[src], a, w, shared_weights=False)
    out = np.zeros((x.shape[0] if num_nodes is None else num_nodes, Irreps(irreps_out).dim))
    np.add.at(out, dst, msg)
    return out * scale


# ------------------------------------------------------------------------------------------------ the numpy plan
def test_plan_module_imports_no_mindspore():
    assert not imports_mindspore("mindchemistry_e3.o3._tensor_product._conv_plan")


@pytest.mark.parametrize("name", [n for n in CASES if not n.startswith("unfused")])
def test_plan_matches_per_path_formulas(name):
    i1, i2, io, instructions = CASES[name]
    ins = normalize_instructions(i1, i2, io, instructions)
    plan = build_conv_plan(i1, i2, io, ins, scale=0.7)
    rng = np.random.default_rng(1)
    x, a = rng.normal(size=(5, Irreps(i1).dim)), rng.normal(size=(13, Irreps(i2).dim))
    w = rng.normal(size=(13, plan.weight_numel))
    src, dst = rng.integers(0, 5, 13), rng.integers(0, 5, 13)
    ref = reference(i1, i2, io, instructions, x, a, w, src, dst, scale=0.7)
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(execute_conv_plan(plan, x, a, w, src, dst, 5), ref, rtol=0, atol=1e-12)


def test_plan_moves_edge_weights_a_path_at_a_time():
    """The permutation of e3nn's weight columns into the plan's order runs over whole chunks (a uvu path's ``m``
    weights, or more when neighbouring paths stay together) and equals the column map; paths of different sizes
    that do not line up keep the columns."""
    for name, whole in (("nequip_lmax3", True), ("fully_connected", True), ("uvu_uvw_shared_outputs", False)):
        i1, i2, io, instructions = CASES[name]
        plan = build_conv_plan(i1, i2, io, normalize_instructions(i1, i2, io, instructions))
        assert plan.weight_map is not None and (plan.weight_map.size > 1) == whole, name
        size, chunk_sources = plan.weight_map.size, column_sources(plan.weight_map.map)[0]
        columns = column_map([[i * size + t for i in src] for src in chunk_sources for t in range(size)],
                             plan.weight_numel)  # the same permutation, a column at a time
        w = np.random.default_rng(3).normal(size=(4, plan.weight_numel))
        np.testing.assert_array_equal(apply_column_map(plan.weight_map, w), apply_column_map(columns, w))
        assert sorted(apply_column_map(plan.weight_map, np.arange(plan.weight_numel)[None])[0]) == list(
            range(plan.weight_numel))  # a permutation: every e3nn weight used once


def test_plan_is_one_matmul_and_one_batch_matmul_per_multiplicity():
    plan = build_conv_plan(*CASES["nequip_lmax3"][:3], normalize_instructions(*CASES["nequip_lmax3"]))
    assert len(plan.groups) == 1 and plan.groups[0].tile and plan.groups[0].uvw == ()
    assert plan.groups[0].k == sum(ir.dim for _, ir in Irreps(CASES["nequip_lmax3"][2]))  # one row per output
    i1, i2, io, instructions = CASES["fully_connected"]
    plan = build_conv_plan(i1, i2, io, normalize_instructions(i1, i2, io, instructions))
    assert sorted(g.mul for g in plan.groups) == [2, 3]
    for g in plan.groups:  # one output-stationary BatchMatMul per output irrep the group reaches
        outputs = {c for a, _, c, _, _ in instructions if i1[a].mul == g.mul}
        assert len(g.uvw) == len(outputs) and not g.tile


def test_plan_support_names_the_reason():
    ins = normalize_instructions(*CASES["unfused_edge_multiplicity"])
    assert "multiplicity 1" in conv_plan_support(*CASES["unfused_edge_multiplicity"][:3], ins)
    ins = normalize_instructions(*CASES["unfused_modes"])
    assert "'uvv'" in conv_plan_support(*CASES["unfused_modes"][:3], ins)
    with pytest.raises(ValueError, match="no fused plan"):
        build_conv_plan(*CASES["unfused_modes"][:3], ins)


# ------------------------------------------------------------------------------------------------ the Cell
@pytest.fixture
def ref(e3nn_fixture):
    return e3nn_fixture("tensor_product_conv")


@pytest.mark.parametrize("case", [0, 1])
def test_matches_e3nn(ref, mode, case):
    spec = json.loads(str(ref[f"c{case}_spec"]))
    a, b, c, ins = spec["args"]
    conv = TensorProductConv(a, b, c, [tuple(i) for i in ins], scale=spec["scale"], dtype=F64)
    assert conv.fused
    p = f"c{case}_"
    t = {k: ms.Tensor(ref[p + k], F64) for k in ("x", "a", "w", "cot")}
    src, dst = ms.Tensor(ref[p + "src"]), ms.Tensor(ref[p + "dst"])

    def f(x, attr, w):
        return (conv(x, attr, w, src, dst) * t["cot"]).sum()

    np.testing.assert_allclose(conv(t["x"], t["a"], t["w"], src, dst).asnumpy(), ref[p + "out"], rtol=1e-10,
                               atol=1e-12)
    grads = ms.grad(f, grad_position=(0, 1, 2))(t["x"], t["a"], t["w"])
    for g, name in zip(grads, ("grad_x", "grad_a", "grad_w")):
        np.testing.assert_allclose(g.asnumpy(), ref[p + name], rtol=1e-10, atol=1e-12, err_msg=name)


class _Unfused(nn.Cell):
    """``segment_sum(TensorProduct(x[src], a, w), dst) * scale``: what the convolution must equal."""

    def __init__(self, i1, i2, io, instructions, scale):
        super().__init__()
        self.tp = o3.TensorProduct(i1, i2, io, instructions, shared_weights=False, internal_weights=False,
                                   dtype=F64)
        self.scale = ms.Tensor([scale], F64)

    def construct(self, x, a, w, src, dst):
        return segment_sum(self.tp(gather_rows(x, src), a, w), dst, x.shape[0]) * self.scale


@pytest.mark.parametrize("lowering", ["bmm", "gemm"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_tensor_product_gather_scatter(name, lowering, mode):
    i1, i2, io, instructions = CASES[name]
    conv = TensorProductConv(i1, i2, io, instructions, scale=0.7, lowering=lowering, dtype=F64)
    assert conv.fused == (not name.startswith("unfused"))
    x, a, w, src, dst = random_graph(conv)
    args = [ms.Tensor(v) for v in (x, a, w, src, dst)]
    out = conv(*args).asnumpy()
    np.testing.assert_allclose(out, _Unfused(i1, i2, io, instructions, 0.7)(*args).asnumpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(out, reference(i1, i2, io, instructions, x, a, w, src, dst, 0.7), rtol=0, atol=1e-12)


class _Unmapped(nn.Cell):
    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def construct(self, x, a, w, src, dst):
        return self.conv(x, a, w, src, dst, None, False)


@pytest.mark.parametrize("name", ["nequip_lmax1", "uvu_uvw_shared_outputs", "outputs_without_paths", "unfused_modes"])
def test_results_before_the_map_times_result_map_are_the_output(name, mode):
    i1, i2, io, instructions = CASES[name]
    conv = TensorProductConv(i1, i2, io, instructions, scale=0.7, dtype=F64)
    # the plan: paths sum into shared outputs / a layout; the native kernels write e3nn's layout
    assert (conv.result_map is not None) == (name != "unfused_modes" and conv.native is None)
    args = [ms.Tensor(v) for v in random_graph(conv)]
    raw = _Unmapped(conv)(*args).asnumpy()
    out = conv(*args).asnumpy()
    mapped = raw if conv.result_map is None else apply_column_map(conv.result_map, raw)
    np.testing.assert_allclose(mapped, out, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["nequip_lmax1", "fully_connected", "uvu_uvw_shared_outputs", "unfused_modes"])
def test_first_order_gradients_match_unfused(name, mode):
    """Gradients w.r.t. node features, edge attributes and weights (PyNative first order is right)."""
    i1, i2, io, instructions = CASES[name]
    conv = TensorProductConv(i1, i2, io, instructions, scale=0.7, dtype=F64)
    unfused = _Unfused(i1, i2, io, instructions, 0.7)
    x, a, w, src, dst = random_graph(conv, seed=4)
    cot = ms.Tensor(np.random.default_rng(5).normal(size=(x.shape[0], Irreps(io).dim)), F64)
    grads = [ms.grad(_Projected(cell, cot, ms.Tensor(src), ms.Tensor(dst)), grad_position=(0, 1, 2))(
        ms.Tensor(x), ms.Tensor(a), ms.Tensor(w)) for cell in (conv, unfused)]
    for g, r in zip(*grads):
        assert np.abs(r.asnumpy()).max() > 0.1
        np.testing.assert_allclose(g.asnumpy(), r.asnumpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", ["src", "dst"])
def test_edges_sorted_by_node_match_unfused(order, mode):
    """Edges sorted by one end (a neighbour list's order: runs of one node, which the native kernels sum in their
    buffers before adding to the node's row), 40 edges on 5 nodes: values and first-order gradients."""
    i1, i2, io, instructions = CASES["nequip_lmax1"]
    conv = TensorProductConv(i1, i2, io, instructions, scale=0.7, dtype=F64)
    unfused = _Unfused(i1, i2, io, instructions, 0.7)
    x, a, w, src, dst = random_graph(conv, num_nodes=5, num_edges=40, seed=6)
    perm = np.argsort(src if order == "src" else dst, kind="stable")
    a, w, src, dst = a[perm], w[perm], src[perm], dst[perm]
    args = [ms.Tensor(v) for v in (x, a, w, src, dst)]
    np.testing.assert_allclose(conv(*args).asnumpy(), reference(i1, i2, io, instructions, x, a, w, src, dst, 0.7),
                               rtol=0, atol=1e-12)
    cot = ms.Tensor(np.random.default_rng(7).normal(size=(x.shape[0], Irreps(io).dim)), F64)
    grads = [ms.grad(_Projected(cell, cot, ms.Tensor(src), ms.Tensor(dst)), grad_position=(0, 1, 2))(
        ms.Tensor(x), ms.Tensor(a), ms.Tensor(w)) for cell in (conv, unfused)]
    for g, r in zip(*grads):
        np.testing.assert_allclose(g.asnumpy(), r.asnumpy(), rtol=0, atol=1e-12)


class _Projected(nn.Cell):
    """``sum(conv(x, a, w) * c)``: a scalar whose gradient is every input's."""

    def __init__(self, conv, c, src, dst):
        super().__init__()
        self.conv, self.c, self.src, self.dst = conv, c, src, dst

    def construct(self, x, a, w):
        return (self.conv(x, a, w, self.src, self.dst) * self.c).sum()


class _SecondOrder(nn.Cell):
    """``|d/da sum(conv * c)|^2``: the shape of a force loss (the edge attributes carry the positions)."""

    def __init__(self, projected):
        super().__init__()
        self.projected = projected

    def construct(self, x, a, w):
        g = ms.grad(self.projected, grad_position=1)(x, a, w)
        return (g * g).sum()


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name, lowering", [("nequip_lmax1", "bmm"), ("uvu_uvw_shared_outputs", "bmm"),
                                            ("uvu_uvw_shared_outputs", "gemm")])
def test_gradients_match_finite_differences(name, lowering, order, graph_mode):
    i1, i2, io, instructions = CASES[name]
    conv = TensorProductConv(i1, i2, io, instructions, scale=0.7, lowering=lowering, dtype=F64)
    x, a, w, src, dst = random_graph(conv, num_nodes=4, num_edges=7, seed=2)
    c = np.random.default_rng(3).normal(size=(4, conv.irreps_out.dim))
    f = _Projected(conv, ms.Tensor(c, F64), ms.Tensor(src), ms.Tensor(dst))
    if order == 2:
        f = _SecondOrder(f)
    inputs = [x, a, w]
    grads = ms.grad(f, grad_position=(0, 1, 2))(*[ms.Tensor(v, F64) for v in inputs])
    for i, g in enumerate(grads):
        def fi(v, i=i):
            args = [ms.Tensor(b, F64) for b in inputs]
            args[i] = ms.Tensor(v, F64)
            return float(f(*args).asnumpy())
        num = finite_difference(fi, inputs[i])
        if not (order == 2 and i == 1):  # the product is linear in a: d^2/da^2 vanishes
            assert np.abs(num).max() > 1e-3
        np.testing.assert_allclose(g.asnumpy(), num, rtol=1e-6, atol=1e-6 * max(np.abs(num).max(), 1.0))


@pytest.mark.parametrize("name", ["nequip_lmax3", "fully_connected"])
def test_equivariance(name, mode):
    i1, i2, io, instructions = CASES[name]
    conv = TensorProductConv(i1, i2, io, instructions, dtype=F64)
    x, a, w, src, dst = random_graph(conv, seed=6)
    src, dst, w = ms.Tensor(src), ms.Tensor(dst), ms.Tensor(w)
    for angles in random_rotations(seed=7):
        d1, d2, do = (irreps_D(ir, *angles) for ir in (conv.irreps_in1, conv.irreps_in2, conv.irreps_out))
        rotated_in = conv(ms.Tensor(x @ d1.T), ms.Tensor(a @ d2.T), w, src, dst).asnumpy()
        rotated_out = conv(ms.Tensor(x), ms.Tensor(a), w, src, dst).asnumpy() @ do.T
        np.testing.assert_allclose(rotated_in, rotated_out, atol=1e-10)


def test_shared_weights_and_num_nodes(mode):
    i1, i2, io, instructions = CASES["nequip_lmax1"]
    conv = TensorProductConv(i1, i2, io, instructions, dtype=F64)
    x, a, w, src, dst = random_graph(conv)
    shared = w[0]
    out = conv(ms.Tensor(x), ms.Tensor(a), ms.Tensor(shared), ms.Tensor(src), ms.Tensor(dst), 9).asnumpy()
    ref = reference(i1, i2, io, instructions, x, a, np.broadcast_to(shared, w.shape), src, dst, num_nodes=9)
    assert out.shape == (9, conv.irreps_out.dim)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_numpy_inputs_and_float32(mode):
    i1, i2, io, instructions = CASES["nequip_first_layer"]
    conv = TensorProductConv(i1, i2, io, instructions)
    x, a, w, src, dst = random_graph(conv)
    out = conv(x.astype(np.float32), a.astype(np.float32), w.astype(np.float32), src, dst)
    assert out.dtype == ms.float32
    np.testing.assert_allclose(out.asnumpy(), reference(i1, i2, io, instructions, x, a, w, src, dst), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("bad, match", [
    (dict(x=np.ones((6, 11))), r"node_features must have shape \[N, 24\], got \(6, 11\)"),
    (dict(a=np.ones((17, 3))), r"edge_attr must have shape \[E, 4\]"),
    (dict(w=np.ones((17, 5))), r"weight must have shape \[E, weight_numel\] = \[17, 30\].*got \(17, 5\)"),
    (dict(src=np.zeros(16, np.int32)), r"edge_src and edge_dst must have shape \[E\] = \[17\]"),
    (dict(x=np.ones((6, 24), np.float32)), r"inputs must have the module's dtype Float64, got Float32"),
])
def test_bad_input_is_named(bad, match, mode):
    conv = TensorProductConv(*CASES["nequip_lmax1"], dtype=F64)
    x, a, w, src, dst = random_graph(conv)
    args = dict(x=x, a=a, w=w, src=src, dst=dst)
    args.update(bad)
    with pytest.raises(ValueError, match=r"TensorProductConv\(3x0e\+3x0o\+3x1o\+3x1e x 1x0e\+1x1o -> .*\): " + match):
        conv(*[ms.Tensor(args[k]) for k in ("x", "a", "w", "src", "dst")])


def test_bad_lowering_is_named():
    with pytest.raises(ValueError, match=r"TensorProductConv\(.*\): lowering must be 'bmm' or 'gemm', got 'dense'"):
        TensorProductConv(*CASES["nequip_lmax1"], lowering="dense")


def test_bad_instructions_are_named():
    with pytest.raises(ValueError, match=r"TensorProductConv\(2x0e x 1x1o -> 2x2o\): .* breaks the selection rule"):
        TensorProductConv("2x0e", "1o", "2x2o", [(0, 0, 0, "uvu", True)])
