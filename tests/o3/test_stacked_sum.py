"""Tests of o3.StackedSum (a sum of stacked linear maps in one BatchMatMul) and its numpy plan: the maps evaluated one
by one (values, first- and second-order gradients, float64), equivariance, graph and PyNative, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3 import o3
from mindchemistry_e3.o3._linear_plan import linear_plan, linear_stack_terms, linear_stacked_plan
from mindchemistry_e3.o3._stacked_np import apply_stacked_plan, apply_stacked_sum_plan, stacked_sum_plan
from mindchemistry_e3.o3._tensor_product._plan import build_plan, scalar_stack_terms, scalar_stacked_plan
from mindchemistry_e3.util._column_map_np import apply_column_map, column_map
from mindchemistry_e3.util import native_kernels
from tests.o3.test_linear import irreps_D
from tests.plan_isolation import imports_mindspore


@pytest.fixture(autouse=True, params=["native", "plan"])
def lowering_on_cpu(request):
    """Every test twice: with the native CPU kernels of the stacked product (o3._stacked_cpu) and without."""
    with native_kernels(request.param == "native"):
        yield request.param


F64 = ms.float64
# NequIP's Lin_2(h) + SC(x, z) with multiplicities that do not share a chunk (padding slots), and a scalar-only case
CASES = [("4x0e + 3x1o + 2x1e", "2x0e + 1x1o", "3x0e", "4x0e + 2x1o"),
         ("6x0e", "2x0e + 2x0o", "2x0e", "5x0e")]


def _maps(irreps_mid, irreps_in, irreps_attr, irreps_out, dtype=F64):
    lin = o3.Linear(irreps_mid, irreps_out, dtype=dtype)
    sc = o3.FullyConnectedTensorProduct(irreps_in, irreps_attr, irreps_out, dtype=dtype)
    return lin, sc


def _inputs(lin, sc, rng, z=5):
    h = rng.standard_normal((z, lin.irreps_in.dim))
    x = rng.standard_normal((z, sc.irreps_in1.dim))
    attr = rng.standard_normal((z, sc.irreps_in2.dim))
    return h, x, attr


def test_plan_imports_no_mindspore():
    assert not imports_mindspore("mindchemistry_e3.o3._stacked_np")


@pytest.mark.parametrize("case", CASES)
def test_sum_plan_equals_the_plans_one_by_one(case):
    irreps_mid, irreps_in, irreps_attr, irreps_out = case
    lin_plan = linear_plan(irreps_mid, irreps_out)
    tp_plan = build_plan(irreps_in, irreps_attr, irreps_out,
                         [(i, j, k, "uvw", True) for i, (_, a) in enumerate(o3.Irreps(irreps_in))
                          for j, (_, b) in enumerate(o3.Irreps(irreps_attr))
                          for k, (_, c) in enumerate(o3.Irreps(irreps_out)) if c in a * b])
    rng = np.random.default_rng(0)
    lt, st = linear_stack_terms(lin_plan), scalar_stack_terms(tp_plan)
    h = rng.standard_normal((7, lt.n_features))
    outer = rng.standard_normal((7, st.n_features))
    w1, w2 = rng.standard_normal(lt.weight_numel), rng.standard_normal(st.weight_numel)
    expected = (apply_stacked_plan(linear_stacked_plan(lin_plan), h, w1)
                + apply_stacked_plan(scalar_stacked_plan(tp_plan), outer, w2))
    actual = apply_stacked_sum_plan(stacked_sum_plan([lt, st]), np.concatenate([h, outer], 1), [w1, w2])
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def test_sum_plan_folds_input_and_output_maps():
    """Features given through input maps (raw @ M_i) and the sum sent through an output map: the same numbers."""
    lt = linear_stack_terms(linear_plan("3x0e + 2x1o", "2x0e + 2x1o"))
    st = linear_stack_terms(linear_plan("2x0e + 1x1o", "2x0e + 2x1o"))
    rng = np.random.default_rng(7)
    m1 = column_map([[int(c), int(c) + 1] for c in rng.integers(0, 11, lt.n_features)], 12)  # sums of raw columns
    dim_out = o3.Irreps("2x0e + 2x1o").dim  # a permutation of the sum's columns and one sum of two of them
    out = column_map([[j] for j in rng.permutation(dim_out)] + [[0, 1]], dim_out)
    plan = stacked_sum_plan([lt, st], [m1, None], out)
    raw, f2 = rng.standard_normal((4, 12)), rng.standard_normal((4, st.n_features))
    w1, w2 = rng.standard_normal(lt.weight_numel), rng.standard_normal(st.weight_numel)
    expected = apply_column_map(out, apply_stacked_plan(linear_stacked_plan(linear_plan("3x0e + 2x1o", "2x0e + 2x1o")),
                                                        apply_column_map(m1, raw), w1)
                                + apply_stacked_plan(linear_stacked_plan(linear_plan("2x0e + 1x1o", "2x0e + 2x1o")),
                                                     f2, w2))
    actual = apply_stacked_sum_plan(plan, np.concatenate([raw, f2], 1), [w1, w2])
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="input map gives"):
        stacked_sum_plan([lt, st], [column_map([[0]], 3), None])


@pytest.mark.parametrize("picked", [[0, 1], [3, 2], [2, 4, 7]], ids=["scalars", "one-vector", "across-blocks"])
def test_sum_plan_computes_only_what_the_output_map_reads(picked):
    """An output map reading some of the sum's columns: those columns' values, and only the components that write
    them in the BatchMatMul (the others are not computed)."""
    lt = linear_stack_terms(linear_plan("3x0e + 2x1o", "2x0e + 2x1o"))
    st = linear_stack_terms(linear_plan("2x0e + 1x1o", "2x0e + 2x1o"))
    dim_out = o3.Irreps("2x0e + 2x1o").dim
    out = column_map([[c] for c in picked], dim_out)
    full, part = stacked_sum_plan([lt, st]), stacked_sum_plan([lt, st], None, out)
    rng = np.random.default_rng(3)
    f = rng.standard_normal((4, lt.n_features + st.n_features))
    w = [rng.standard_normal(lt.weight_numel), rng.standard_normal(st.weight_numel)]
    np.testing.assert_allclose(apply_stacked_sum_plan(part, f, w), apply_stacked_sum_plan(full, f, w)[:, picked],
                               rtol=1e-12, atol=1e-12)
    # components: (block, chunk, component); the scalars block has 1 component, each vector component 1
    written = {0 if c < 2 else 1 + (c - 2) % 3 for c in picked}
    assert part.stacked.components == len(written) < full.stacked.components


def test_sum_plan_refuses_other_output_blocks():
    with pytest.raises(ValueError, match="output blocks differ"):
        stacked_sum_plan([linear_stack_terms(linear_plan("2x0e", "2x0e")),
                          linear_stack_terms(linear_plan("2x0e", "3x0e"))])


class _Sum(nn.Cell):
    """Lin(h) + SC(x, attr) through StackedSum (``fused``) or the two maps (Parameters are no top-level graph
    inputs: the maps' weights are read inside a Cell)."""

    def __init__(self, lin, sc, fused):
        super().__init__()
        self.lin, self.sc = lin, sc
        self.fused = o3.StackedSum([lin, sc]) if fused else None

    def construct(self, h, x, attr):
        if self.fused is None:
            return self.lin(h) + self.sc(x, attr)
        return self.fused((h, self.sc.stack_features(x, attr)), (self.lin.weight, self.sc.weight))


@pytest.mark.parametrize("case", CASES)
def test_values_equal_the_maps_one_by_one(case, mode):
    lin, sc = _maps(*case)
    h, x, attr = (ms.Tensor(a) for a in _inputs(lin, sc, np.random.default_rng(1)))
    out = _Sum(lin, sc, True)(h, x, attr)
    np.testing.assert_allclose(out.asnumpy(), (lin(h) + sc(x, attr)).asnumpy(), rtol=1e-12, atol=1e-12)


def test_equivariant():
    lin, sc = _maps(*CASES[0])
    h, x, attr = _inputs(lin, sc, np.random.default_rng(2))
    fused = _Sum(lin, sc, True)

    def run(h, x):
        return fused(ms.Tensor(h), ms.Tensor(x), ms.Tensor(attr)).asnumpy()

    for parity in (1, -1):
        angles = (0.3, 1.1, -0.7)
        d_mid, d_in, d_out = (irreps_D(irreps, *angles, parity) for irreps in (lin.irreps_in, sc.irreps_in1,
                                                                             lin.irreps_out))
        np.testing.assert_allclose(run(h @ d_mid.T, x @ d_in.T), run(h, x) @ d_out.T, atol=1e-10)


class _Fused(nn.Cell):
    """E = sum(sin(Lin(h) + SC(x, attr))) (:class:`_Sum`); the force-like loss
    sum(c * (dE/dx) ** 2) + sum((dE/dh) ** 2)."""

    def __init__(self, lin, sc, fused):
        super().__init__()
        self.sum = _Sum(lin, sc, fused)
        self.grad_x = ops.GradOperation(get_all=True)

    def energy(self, h, x, attr):
        return ops.sin(self.sum(h, x, attr)).sum()

    def construct(self, h, x, attr, c):
        gh, gx, _ = self.grad_x(self.energy)(h, x, attr)
        return (c * gx * gx).sum() + (gh * gh).sum()


def _pair():
    lin, sc = _maps(*CASES[0])
    lin2, sc2 = _maps(*CASES[0])
    lin2.weight.set_data(lin.weight.data.copy())
    sc2.weight.set_data(sc.weight.data.copy())
    return _Fused(lin, sc, True), _Fused(lin2, sc2, False)


class _Energy(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, h, x, attr):
        return self.net.energy(h, x, attr)


def test_first_order_gradients_equal_the_maps_one_by_one(mode):
    fused, apart = _pair()
    rng = np.random.default_rng(3)
    inputs = [ms.Tensor(a) for a in _inputs(fused.sum.lin, fused.sum.sc, rng)]
    grads = []
    for net in (fused, apart):
        energy = _Energy(net)
        (gh, gx), gw = ms.grad(energy, grad_position=(0, 1), weights=energy.trainable_params())(*inputs)
        grads.append([gh.asnumpy(), gx.asnumpy()] + [g.asnumpy() for g in gw])
    assert len(grads[0]) == 4
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


def _force_loss_inputs(fused, seed):
    rng = np.random.default_rng(seed)
    inputs = [ms.Tensor(a) for a in _inputs(fused.sum.lin, fused.sum.sc, rng)]
    return rng, inputs + [ms.Tensor(rng.standard_normal(inputs[1].shape))]


def test_second_order_weight_gradients_equal_the_maps_one_by_one(graph_mode):
    fused, apart = _pair()
    _, inputs = _force_loss_inputs(fused, 4)
    grads = []
    for net in (fused, apart):
        gw = ms.grad(net, grad_position=None, weights=net.trainable_params())(*inputs)
        grads.append([g.asnumpy() for g in gw])
    assert len(grads[0]) == 2 and all(np.abs(g).max() > 0 for g in grads[0])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_second_order_against_finite_differences(graph_mode):
    fused, _ = _pair()
    rng, inputs = _force_loss_inputs(fused, 5)
    grads = ms.grad(fused, grad_position=None, weights=fused.trainable_params())(*inputs)
    eps = 1e-6
    for p, g in zip(fused.trainable_params(), grads):
        w0 = p.asnumpy().copy()
        direction = rng.standard_normal(w0.shape)
        p.set_data(ms.Tensor(w0 + eps * direction))
        lp = fused(*inputs).asnumpy()
        p.set_data(ms.Tensor(w0 - eps * direction))
        lm = fused(*inputs).asnumpy()
        p.set_data(ms.Tensor(w0))
        np.testing.assert_allclose((g.asnumpy() * direction).sum(), (lp - lm) / (2 * eps), rtol=1e-6)


def test_refuses_maps_that_do_not_stack():
    lin, sc = _maps(*CASES[0])
    with pytest.raises(ValueError, match="not a stacked linear map"):
        o3.StackedSum([lin, o3.Linear("4x0e + 3x1o + 2x1e", "4x0e + 2x1o", biases=True, dtype=F64)])
    with pytest.raises(ValueError, match="not a stacked linear map"):
        o3.StackedSum([lin, o3.FullyConnectedTensorProduct("2x1o", "1x1o", "4x0e + 2x1o", dtype=F64)])
    with pytest.raises(ValueError, match="irreps_out"):
        o3.StackedSum([lin, o3.Linear("2x0e", "4x0e", dtype=F64)])
    with pytest.raises(ValueError, match="dtype"):
        o3.StackedSum([lin, o3.Linear("4x0e + 3x1o + 2x1e", "4x0e + 2x1o")])


def test_bad_shapes_name_the_map():
    lin, sc = _maps(*CASES[0])
    fused = o3.StackedSum([lin, sc])
    h, x, attr = (ms.Tensor(a) for a in _inputs(lin, sc, np.random.default_rng(6)))  # PyNative: weights as inputs
    with pytest.raises(ValueError, match=r"features of map 1 must have shape \[Z, 15\]"):
        fused((h, x), (lin.weight, sc.weight))
    with pytest.raises(ValueError, match="expected 2 features and 2 weights"):
        fused((h,), (lin.weight,))
    with pytest.raises(ValueError, match=r"weight of map 0 must have shape"):
        fused((h, sc.stack_features(x, attr)), (sc.weight, sc.weight))


class _Tail(nn.Cell):
    """A NequIP block's tail: gate(Lin(conv(x)) + SC(x, z)), fused (the conv's result map and the gate's input map
    folded into one StackedSum) or cell by cell."""

    def __init__(self, fused):
        super().__init__()
        from mindchemistry_e3.nn import Gate

        mid, ins = o3.uvu_instructions("3x0e + 2x1o", "0e + 1o", "3x0e + 2x1o + 2x1e")
        self.conv = o3.TensorProductConv("3x0e + 2x1o", "0e + 1o", mid, ins, dtype=F64)
        self.gate = Gate("2x0e + 1x0o", [ops.silu, ops.tanh], "2x0e", [ops.sigmoid], "1x1o + 1x1e", dtype=F64)
        self.lin = o3.Linear(mid.simplify(), self.gate.irreps_in, dtype=F64)
        self.sc = o3.FullyConnectedTensorProduct("3x0e + 2x1o", "2x0e", self.gate.irreps_in, dtype=F64)
        self.sum = None
        if fused:  # the plan's results need their map folded in; the native kernels write e3nn's layout
            assert (self.conv.result_map is None) == (self.conv.native is not None) and self.gate.input_map is not None
            self.sum = o3.StackedSum([self.lin, self.sc], [self.conv.result_map, None], self.gate.input_map)
        self.src = ms.Tensor(np.array([0, 1, 2, 3, 0, 2, 1], np.int32))
        self.dst = ms.Tensor(np.array([1, 2, 3, 0, 2, 0, 3], np.int32))

    def construct(self, x, a, w, z):
        if self.sum is None:
            return self.gate(self.lin(self.conv(x, a, w, self.src, self.dst)) + self.sc(x, z))
        raw = self.conv(x, a, w, self.src, self.dst, None, False)
        return self.gate(self.sum((raw, self.sc.stack_features(x, z)), (self.lin.weight, self.sc.weight)), True)


class _SinSum(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x, a, w, z):
        return ops.sin(self.net(x, a, w, z)).sum()


@pytest.mark.parametrize("native", [True, False], ids=["native", "plan"])
def test_conv_to_gate_tail_equals_the_cells_one_by_one(mode, native):
    with native_kernels(native):
        fused, apart = _Tail(True), _Tail(False)
    for p, q in zip(fused.trainable_params(), apart.trainable_params()):
        q.set_data(p.data.copy())
    rng = np.random.default_rng(8)
    inputs = [ms.Tensor(rng.standard_normal(shape)) for shape in ((4, 9), (7, 4), (7, fused.conv.weight_numel), (4, 2))]
    np.testing.assert_allclose(fused(*inputs).asnumpy(), apart(*inputs).asnumpy(), rtol=1e-12, atol=1e-12)
    grads = []
    for net in (fused, apart):
        energy = _SinSum(net)
        g_in, g_w = ms.grad(energy, grad_position=(0, 2), weights=energy.trainable_params())(*inputs)
        grads.append([g.asnumpy() for g in g_in] + [g.asnumpy() for g in g_w])
    assert len(grads[0]) == 4
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
