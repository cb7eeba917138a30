"""The fused CPU kernels of the stacked linear maps (o3._stacked_cpu) -- o3.Linear, the tensor products with a scalar
second input and StackedSum -- against the plans' numpy execution and the plain-op Cells: values, first order
(both modes), second order (graph mode, against the plain ops and finite differences), float32 and float64; when
they apply; the generated source."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3 import o3
from mindchemistry_e3 import nn as e3nn
from mindchemistry_e3.o3._linear_plan import linear_plan, linear_stacked_plan
from mindchemistry_e3.o3._stacked import stacked_native
from mindchemistry_e3.o3._stacked_cpu_np import stacked_kernel_support, stacked_source, stacked_widths, weight_rows
from mindchemistry_e3.o3._stacked_np import apply_stacked_plan, apply_stacked_sum_plan, stacked_sum_plan
from mindchemistry_e3.util import native_kernels
from tests import native_calls
from tests.plan_isolation import imports_mindspore

F64 = ms.float64


def _cases():
    """(plan, flat sizes, maps' weights or None, numpy execution on the flat weights): a Linear with both column
    maps; NequIP's Lin_2 + SC writing a Gate's layout (two maps, padding slots, summed column maps)."""
    lp = linear_plan("4x0e + 3x1o + 2x2e", "3x0e + 2x1o + 1x2e")
    linear = linear_stacked_plan(lp)
    lin = o3.Linear("4x0e + 3x1o + 2x1e", "4x0e + 2x1o", dtype=F64)
    sc = o3.FullyConnectedTensorProduct("2x0e + 1x1o", "3x0e", "4x0e + 2x1o", dtype=F64)
    gate = e3nn.Gate("2x0e", [e3nn.silu], "2x0e", [ops.sigmoid], "2x1o", dtype=F64)
    tail = stacked_sum_plan([lin.stack_terms(), sc.stack_terms()], None, gate.input_map)
    return {"linear": (linear, [lp.weight_numel], None, lambda f, ws: apply_stacked_plan(linear, f, ws[0])),
            "lin2+sc->gate": (tail.stacked, [lin.weight_numel, sc.weight_numel],
                              list(zip(tail.weight_index, tail.weight_coef)),
                              lambda f, ws: apply_stacked_sum_plan(tail, f, ws))}


@pytest.mark.parametrize("key", ["linear", "lin2+sc->gate"])
def test_kernels_compute_the_plan(key):
    """stk_forward against the plan's numpy execution; stk_vjp and stk_vjp2 against the identities of a bilinear
    map (<g, y(d, w)> = <df, d> and so on), float64, 37 rows (not a multiple of the 16 lanes)."""
    plan, numel, weights, reference = _cases()[key]
    lib = native_calls.load(stacked_source(plan, numel, "float64", weights), "stacked_test")

    def call(name, arrays):
        return native_calls.call(lib, name, arrays)

    def y(f, ws):
        return reference(f, ws)

    def inner(a, b):
        return sum((x * z).sum() for x, z in zip(a, b))

    n_in, n_out = stacked_widths(plan)
    rng = np.random.default_rng(0)
    f, g = rng.normal(size=(37, n_in)), rng.normal(size=(37, n_out))
    ws = [rng.normal(size=n) for n in numel]
    out = np.empty((37, n_out))
    assert call("stk_forward", [f] + ws + [out]) == 0
    np.testing.assert_allclose(out, y(f, ws), rtol=0, atol=1e-13)
    df, dws = np.empty_like(f), [np.empty_like(w) for w in ws]
    assert call("stk_vjp", [f] + ws + [g, df] + dws) == 0
    d_f, d_ws = rng.normal(size=f.shape), [rng.normal(size=n) for n in numel]
    np.testing.assert_allclose((df * d_f).sum(), (g * y(d_f, ws)).sum(), rtol=1e-12)
    np.testing.assert_allclose(inner(dws, d_ws), (g * y(f, d_ws)).sum(), rtol=1e-12)
    a_f, a_ws = rng.normal(size=f.shape), [rng.normal(size=n) for n in numel]
    gf, gws, gg = np.empty_like(f), [np.empty_like(w) for w in ws], np.empty_like(g)
    assert call("stk_vjp2", [f] + ws + [g, a_f] + a_ws + [gf] + gws + [gg]) == 0
    np.testing.assert_allclose((gf * d_f).sum(), (g * y(d_f, a_ws)).sum(), rtol=1e-12)
    np.testing.assert_allclose(inner(gws, d_ws), (g * y(a_f, d_ws)).sum(), rtol=1e-12)
    np.testing.assert_allclose(gg, y(a_f, ws) + y(f, a_ws), rtol=0, atol=1e-12)
    assert call("stk_forward", [f, out]) == 1  # a wrong argument count is refused, not read past


class _Maps(nn.Cell):
    """A Linear, a self-connection product and their StackedSum on one set of inputs."""

    def __init__(self, dtype):
        super().__init__()
        self.lin = o3.Linear("4x0e + 3x1o + 2x1e", "4x0e + 2x1o", dtype=dtype)
        self.sc = o3.FullyConnectedTensorProduct("2x0e + 1x1o", "3x0e", "4x0e + 2x1o", dtype=dtype)
        self.sum = o3.StackedSum([self.lin, self.sc])

    def construct(self, h, x, z):
        return (self.lin(h), self.sc(x, z), self.sum((h, self.sc.stack_features(x, z)), (self.lin.weight,
                                                                                           self.sc.weight)))


class _Energy(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, h, x, z):
        a, b, c = self.net(h, x, z)
        return ops.sin(a).sum() + ops.cos(b).sum() + (c * c).sum()


class _ForceLoss(nn.Cell):
    """|d/d(h, x) E|^2: its weights' gradient is the second order of force training."""

    def __init__(self, net):
        super().__init__()
        self.grad = ms.grad(_Energy(net), grad_position=(0, 1))

    def construct(self, h, x, z):
        gh, gx = self.grad(h, x, z)
        return (gh * gh).sum() + (gx * gx).sum()


def _twins(dtype):
    native_calls.skip_without_compiler()
    ms.set_seed(0)
    fused = _Maps(dtype)
    with native_kernels(False):
        ms.set_seed(0)
        plain = _Maps(dtype)
    assert fused.lin._stacked_native is not None and fused.sc._scalar_native is not None  # pylint: disable=W0212
    assert fused.sum.native is not None and plain.sum.native is None
    for p, q in zip(fused.trainable_params(), plain.trainable_params()):
        q.set_data(p.data.copy())
    return fused, plain


def _inputs(npdt, z=21, seed=1):
    rng = np.random.default_rng(seed)
    return [ms.Tensor(rng.normal(size=(z, n)).astype(npdt)) for n in (19, 5, 3)]


@pytest.mark.parametrize("dtype,npdt,tol", [(ms.float64, np.float64, 1e-12), (ms.float32, np.float32, 2e-5)])
def test_values_and_gradients_match_plain_ops(mode, dtype, npdt, tol):
    fused, plain = _twins(dtype)
    inputs = _inputs(npdt)
    for a, b in zip(fused(*inputs), plain(*inputs)):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=tol, atol=tol)
    grads = []
    for net in (fused, plain):
        energy = _Energy(net)
        g_in, g_w = ms.grad(energy, grad_position=(0, 1), weights=energy.trainable_params())(*inputs)
        grads.append([g.asnumpy() for g in g_in] + [g.asnumpy() for g in g_w])
    assert len(grads[0]) == 4
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=tol * 10, atol=tol * 10)


def test_second_order_matches_plain_ops_and_finite_differences(graph_mode):
    fused, plain = _twins(F64)
    inputs = _inputs(np.float64, seed=2)
    grads = []
    for net in (fused, plain):
        loss = _ForceLoss(net)
        grads.append([g.asnumpy() for g in ms.grad(loss, grad_position=None, weights=net.trainable_params())(*inputs)])
    assert len(grads[0]) == 2 and all(np.abs(g).max() > 0 for g in grads[0])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-11)
    loss, eps, rng = _ForceLoss(fused), 1e-6, np.random.default_rng(3)
    for p, g in zip(fused.trainable_params(), grads[0]):
        w0 = p.asnumpy().copy()
        direction = rng.standard_normal(w0.shape)
        p.set_data(ms.Tensor(w0 + eps * direction))
        lp = loss(*inputs).asnumpy()
        p.set_data(ms.Tensor(w0 - eps * direction))
        lm = loss(*inputs).asnumpy()
        p.set_data(ms.Tensor(w0))
        np.testing.assert_allclose((g * direction).sum(), (lp - lm) / (2 * eps), rtol=1e-6)


def test_when_the_kernels_apply():
    native_calls.skip_without_compiler()
    lp = linear_plan("4x0e + 2x1o", "3x0e + 1x1o")
    plan, numel = linear_stacked_plan(lp), [lp.weight_numel]
    assert stacked_native(plan, ms.float32, None, numel) is not None
    assert stacked_native(plan, ms.float32, ms.float16, numel) is None  # the precision policy's products
    assert stacked_native(plan, ms.float16, None, numel) is None
    assert stacked_native(linear_stacked_plan(linear_plan("4x0e", "3x0e")), ms.float32, None, [12]) is None  # MatMul
    with native_kernels(False):
        assert stacked_native(plan, ms.float32, None, numel) is None
    assert "reads past" in stacked_kernel_support(plan, [numel[0] - 1])
    assert "maps" in stacked_kernel_support(plan, [1, 1, 1, 1])
    lin = o3.Linear("4x0e + 2x1o", "3x0e + 1x1o")
    assert lin(ms.Tensor(np.zeros((0, 10), np.float32))).shape == (0, 6)


def test_source_module_imports_no_mindspore():
    assert not imports_mindspore("mindchemistry_e3.o3._stacked_cpu_np")
    plan, numel, _, _ = _cases()["linear"]
    with pytest.raises(ValueError, match="dtype must be"):
        stacked_source(plan, numel, "float16")


def test_weight_rows_refuse_rows_the_kernels_cannot_assemble():
    """A row is one coefficient times consecutive weights of one map, then zeros; anything else is refused."""
    class Plan:  # the two fields weight_rows reads
        weight_index = np.array([[[4, 5, 6], [0, 0, 0]]])
        weight_coef = np.array([[[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]])

    rows, coefs = weight_rows(Plan)
    assert rows.tolist() == [[0, 4, 2], [0, 0, 0]] and coefs.tolist() == [0.5, 0.0]
    for index, coef, why in (([[[4, 6, 7], [0, 0, 0]]], [[[0.5, 0.5, 0], [0, 0, 0]]], "consecutive"),
                             ([[[4, 5, 6], [0, 0, 0]]], [[[0.5, 0.0, 0.5], [0, 0, 0]]], "consecutive"),
                             ([[[4, 5, 6], [0, 0, 0]]], [[[0.5, 0.25, 0], [0, 0, 0]]], "consecutive")):
        Plan.weight_index, Plan.weight_coef = np.array(index), np.array(coef, dtype=float)
        with pytest.raises(ValueError, match=why):
            weight_rows(Plan)
    Plan.weight_index, Plan.weight_coef = np.array([[[4, 5, 6], [0, 0, 0]]]), np.array([[[0.5, 0.5, 0], [0, 0, 0]]])
    with pytest.raises(ValueError, match="reads 2 maps"):
        weight_rows(Plan, [(Plan.weight_index, Plan.weight_coef)] * 2)
