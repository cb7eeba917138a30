"""The fused CPU kernels of weighted uvu products with per-sample weights (o3._tensor_product._uvu_cpu) against
the plain-op TensorProduct: values, first order (both modes), second order in graph mode (inputs and weights-only),
float32 and float64, row counts that are not a multiple of the kernels' block; when they are chosen; the generated
source against e3nn's formula in numpy."""

import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3.o3 import Irreps, TensorProduct
from mindchemistry_e3.o3._tensor_product._plan import naive_tensor_product, normalize_instructions
from mindchemistry_e3.o3._tensor_product._uvu_cpu import FusedUvuProduct
from mindchemistry_e3.o3._tensor_product._uvu_cpu_np import LANES, uvu_kernel_support, uvu_source
from mindchemistry_e3.util import _native, native_kernels
from tests import native_calls
from tests.plan_isolation import imports_mindspore

# two paths into the same output (2x1o), an l = 2 input with an l = 3 edge irrep, a 0e output from two inputs
IRREPS_IN1, IRREPS_IN2, IRREPS_OUT = "3x0e + 3x1o + 2x2e", "0e + 1o + 3o", "3x0e + 3x1o + 2x2e + 2x1o"
INSTRUCTIONS = [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (0, 1, 1, "uvu", True), (1, 0, 1, "uvu", True),
                (2, 2, 3, "uvu", True), (2, 1, 3, "uvu", True), (2, 0, 2, "uvu", True)]


def _skip_without_compiler():
    if _native._compiler() is None:
        pytest.skip("no C++ compiler on this machine: the plain-op Cells run instead")


def _pair(dtype, **kwargs):
    _skip_without_compiler()
    fused = TensorProduct(IRREPS_IN1, IRREPS_IN2, IRREPS_OUT, INSTRUCTIONS, shared_weights=False, dtype=dtype,
                          **kwargs)
    assert isinstance(fused.native, FusedUvuProduct), "a C++ compiler is there, but the kernel was not built"
    with native_kernels(False):
        plain = TensorProduct(IRREPS_IN1, IRREPS_IN2, IRREPS_OUT, INSTRUCTIONS, shared_weights=False, dtype=dtype,
                              **kwargs)
    assert plain.native is None
    return fused, plain


def _inputs(tp, z, npdt, seed=0):
    rng = np.random.default_rng(seed)
    return [ms.Tensor(rng.normal(size=(z, n)).astype(npdt)) for n in (tp.irreps_in1.dim, tp.irreps_in2.dim,
                                                                      tp.weight_numel)]


class _Loss(nn.Cell):
    def __init__(self, tp, ct):
        super().__init__()
        self.tp, self.ct = tp, ct

    def construct(self, x1, x2, w):
        return (self.tp(x1, x2, w) * self.ct).sum()


class _GradLoss(nn.Cell):
    """(x1, x2, w) -> sum(sin(d/dx2 sum(TP * ct))): a loss on a first-order gradient (forces-like)."""

    def __init__(self, tp, ct):
        super().__init__()
        self.grad = ms.grad(_Loss(tp, ct), grad_position=1)

    def construct(self, x1, x2, w):
        return ops.sin(self.grad(x1, x2, w)).sum()


@pytest.mark.parametrize("z", [1, LANES, 37])
@pytest.mark.parametrize("dtype,npdt,tol", [(ms.float64, np.float64, 1e-12), (ms.float32, np.float32, 2e-6)])
def test_values_and_gradients_match_plain_ops(mode, z, dtype, npdt, tol):
    fused, plain = _pair(dtype)
    x1, x2, w = _inputs(fused, z, npdt)
    y, y_plain = fused(x1, x2, w).asnumpy(), plain(x1, x2, w).asnumpy()
    assert y.dtype == npdt and y.shape == (z, Irreps(IRREPS_OUT).dim)
    np.testing.assert_allclose(y, y_plain, rtol=0, atol=tol * np.abs(y_plain).max())
    ct = ms.Tensor(np.random.default_rng(1).normal(size=y.shape).astype(npdt))
    grads = ms.grad(_Loss(fused, ct), grad_position=(0, 1, 2))(x1, x2, w)
    grads_plain = ms.grad(_Loss(plain, ct), grad_position=(0, 1, 2))(x1, x2, w)
    for name, g, gp in zip(("x1", "x2", "w"), grads, grads_plain):
        gp = gp.asnumpy()
        np.testing.assert_allclose(g.asnumpy(), gp, rtol=0, atol=tol * np.abs(gp).max(), err_msg=name)


def test_second_order_matches_plain_ops(graph_mode):
    """The gradient of a loss on d/dx2 (every input and the weights), float64: the gradient kernel's own gradient
    (the vjp2 kernel) against autodiff of the plain-op Cell (which test_tensor_product checks against finite
    differences)."""
    fused, plain = _pair(ms.float64)
    x1, x2, w = _inputs(fused, 21, np.float64, seed=2)
    ct = ms.Tensor(np.random.default_rng(3).normal(size=(21, Irreps(IRREPS_OUT).dim)))
    second = ms.grad(_GradLoss(fused, ct), grad_position=(0, 1, 2))(x1, x2, w)
    second_plain = ms.grad(_GradLoss(plain, ct), grad_position=(0, 1, 2))(x1, x2, w)
    for name, g, gp in zip(("x1", "x2", "w"), second, second_plain):
        gp = gp.asnumpy()
        np.testing.assert_allclose(g.asnumpy(), gp, rtol=0, atol=1e-11 * np.abs(gp).max(), err_msg=name)


def test_second_order_matches_finite_differences(graph_mode):
    """The weights' gradient of the forces-like loss against central differences (float64)."""
    fused, _ = _pair(ms.float64)
    x1, x2, w = _inputs(fused, 5, np.float64, seed=4)
    ct = ms.Tensor(np.random.default_rng(5).normal(size=(5, Irreps(IRREPS_OUT).dim)))
    loss = _GradLoss(fused, ct)
    g = ms.grad(loss, grad_position=2)(x1, x2, w).asnumpy()
    rng = np.random.default_rng(6)
    for _ in range(3):
        d = rng.normal(size=w.shape)
        h = 1e-6
        fd = (loss(x1, x2, ms.Tensor(w.asnumpy() + h * d)).asnumpy()
              - loss(x1, x2, ms.Tensor(w.asnumpy() - h * d)).asnumpy()) / (2 * h)
        np.testing.assert_allclose((g * d).sum(), fd, rtol=1e-7, atol=1e-9)


def test_kernels_are_chosen_only_where_they_apply():
    _skip_without_compiler()
    ins_uvw = [(0, 0, 0, "uvw", True)]
    assert TensorProduct("3x0e", "0e", "3x0e", ins_uvw, shared_weights=False).native is None
    assert TensorProduct(IRREPS_IN1, IRREPS_IN2, IRREPS_OUT, INSTRUCTIONS).native is None  # shared weights
    assert TensorProduct(IRREPS_IN1, "2x0e", "3x0e", [(0, 0, 0, "uvu", True)], shared_weights=False).native is None
    assert TensorProduct(IRREPS_IN1, IRREPS_IN2, IRREPS_OUT, INSTRUCTIONS, shared_weights=False,
                         compute_dtype=ms.float16).native is None
    fused = TensorProduct(IRREPS_IN1, IRREPS_IN2, IRREPS_OUT, INSTRUCTIONS, shared_weights=False)
    assert isinstance(fused.native, FusedUvuProduct)
    assert not list(fused.get_parameters())
    # broadcast rows (x2 with one row) take the plain-op lowering and still agree
    x1, x2, w = _inputs(fused, 4, np.float32)
    y = fused(x1, x2[:1], w).asnumpy()
    y_rows = fused(x1, ops.tile(x2[:1], (4, 1)), w).asnumpy()
    np.testing.assert_allclose(y, y_rows, rtol=1e-6, atol=1e-6)


def test_source_computes_e3nns_formula():
    """The generated kernels, compiled and called directly (ctypes), against naive_tensor_product (e3nn's
    einsums) and its finite differences, float64, 37 rows."""
    ins = normalize_instructions(IRREPS_IN1, IRREPS_IN2, IRREPS_OUT, INSTRUCTIONS)
    lib = native_calls.load(uvu_source(IRREPS_IN1, IRREPS_IN2, IRREPS_OUT, ins, dtype="float64"), "uvu_test")

    def call(name, arrays):
        return native_calls.call(lib, name, arrays)

    rng = np.random.default_rng(7)
    numel = sum(int(np.prod(i.path_shape)) for i in ins)
    x1, x2, w = (rng.normal(size=(37, Irreps(IRREPS_IN1).dim)), rng.normal(size=(37, Irreps(IRREPS_IN2).dim)),
                 rng.normal(size=(37, numel)))
    y = np.empty((37, Irreps(IRREPS_OUT).dim))
    assert call("tp_forward", [x1, x2, w, y]) == 0

    def reference(a, b, c):
        return naive_tensor_product(IRREPS_IN1, IRREPS_IN2, IRREPS_OUT, ins, a, b, c, shared_weights=False)

    np.testing.assert_allclose(y, reference(x1, x2, w), rtol=0, atol=1e-13)
    g = rng.normal(size=y.shape)
    grads = [np.empty_like(x1), np.empty_like(x2), np.empty_like(w)]
    assert call("tp_vjp", [x1, x2, w, g] + grads) == 0
    for k, grad in enumerate(grads):
        d = rng.normal(size=grad.shape)
        plus, minus = [x1, x2, w], [x1, x2, w]
        plus[k], minus[k] = plus[k] + 1e-6 * d, minus[k] - 1e-6 * d
        fd = ((reference(*plus) - reference(*minus)) * g).sum() / 2e-6
        np.testing.assert_allclose((grad * d).sum(), fd, rtol=1e-7)
    assert call("tp_forward", [x1, x2, w]) == 1  # a wrong argument count is refused, not read past


def test_support_messages_and_module_imports():
    ins = normalize_instructions("4x0e", "2x1o", "4x1o", [(0, 0, 0, "uvu", True)])
    assert "multiplicity 1" in uvu_kernel_support("4x0e", "2x1o", "4x1o", ins)
    ins = normalize_instructions("4x0e", "0e", "4x0e", [(0, 0, 0, "uvu", False)])
    assert uvu_kernel_support("4x0e", "0e", "4x0e", ins) == "a path without weights"
    with pytest.raises(ValueError, match="without weights"):
        uvu_source("4x0e", "0e", "4x0e", ins)
    assert not imports_mindspore("mindchemistry_e3.o3._tensor_product._uvu_cpu_np")


# ------------------------------------------------------------------------------------------------ the convolution
def _conv_pair():
    """(native, plan) TensorProductConv of NequIP's product (uvu, every path to its own output, outputs sorted)."""
    _skip_without_compiler()
    from mindchemistry_e3.o3 import TensorProductConv, uvu_instructions
    from mindchemistry_e3.o3._tensor_product._uvu_cpu import FusedUvuConv

    mid, ins = uvu_instructions("3x0e + 3x1o + 2x2e", "0e + 1o + 2e", "0e + 1o + 2e")
    native = TensorProductConv("3x0e + 3x1o + 2x2e", "0e + 1o + 2e", mid, ins, scale=0.3, permuted_weights=True,
                               dtype=ms.float64)
    assert isinstance(native.native, FusedUvuConv)
    assert native.weight_permutation is None and native.result_map is None  # e3nn's layouts in and out
    with native_kernels(False):
        plan = TensorProductConv("3x0e + 3x1o + 2x2e", "0e + 1o + 2e", mid, ins, scale=0.3, dtype=ms.float64)
    assert plan.native is None
    return native, plan


def _graph(conv, nodes=9, edges=37, seed=0):
    rng = np.random.default_rng(seed)
    x = ms.Tensor(rng.normal(size=(nodes, conv.irreps_in1.dim)))
    a = ms.Tensor(rng.normal(size=(edges, conv.irreps_in2.dim)))
    w = ms.Tensor(rng.normal(size=(edges, conv.weight_numel)))
    src = ms.Tensor(rng.integers(0, nodes, edges).astype(np.int32))
    dst = ms.Tensor(np.sort(rng.integers(0, nodes, edges)).astype(np.int32))  # sorted: lanes share rows
    return x, a, w, src, dst


class _ConvLoss(nn.Cell):
    def __init__(self, conv, ct, src, dst):
        super().__init__()
        self.conv, self.ct, self.src, self.dst = conv, ct, src, dst

    def construct(self, x, a, w):
        return (self.conv(x, a, w, self.src, self.dst) * self.ct).sum()


class _ConvForceLoss(nn.Cell):
    """A loss on d/da (forces-like: the edge attributes stand for the positions)."""

    def __init__(self, conv, ct, src, dst):
        super().__init__()
        self.grad = ms.grad(_ConvLoss(conv, ct, src, dst), grad_position=1)

    def construct(self, x, a, w):
        return ops.sin(self.grad(x, a, w)).sum()


def test_conv_matches_the_plan_to_second_order(graph_mode):
    native, plan = _conv_pair()
    x, a, w, src, dst = _graph(native)
    np.testing.assert_allclose(native(x, a, w, src, dst).asnumpy(), plan(x, a, w, src, dst).asnumpy(), rtol=0,
                               atol=1e-12)
    ct = ms.Tensor(np.random.default_rng(1).normal(size=(9, native.irreps_out.dim)))
    for loss in (_ConvLoss, _ConvForceLoss):
        got = ms.grad(loss(native, ct, src, dst), grad_position=(0, 1, 2))(x, a, w)
        want = ms.grad(loss(plan, ct, src, dst), grad_position=(0, 1, 2))(x, a, w)
        for name, g, r in zip(("x", "a", "w"), got, want):
            r = r.asnumpy()
            np.testing.assert_allclose(g.asnumpy(), r, rtol=0, atol=1e-11 * np.abs(r).max(), err_msg=name)


def test_conv_first_order_and_num_nodes(mode):
    native, plan = _conv_pair()
    x, a, w, src, dst = _graph(native, seed=2)
    ct = ms.Tensor(np.random.default_rng(3).normal(size=(9, native.irreps_out.dim)))
    got = ms.grad(_ConvLoss(native, ct, src, dst), grad_position=(0, 1, 2))(x, a, w)
    want = ms.grad(_ConvLoss(plan, ct, src, dst), grad_position=(0, 1, 2))(x, a, w)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g.asnumpy(), r.asnumpy(), rtol=0, atol=1e-12 * np.abs(r.asnumpy()).max())
    # int64 edge indices (e3nn's radius_graph gives them) take the same kernel
    y64 = native(x, a, w, src.astype(ms.int64), dst.astype(ms.int64)).asnumpy()
    np.testing.assert_array_equal(y64, native(x, a, w, src, dst).asnumpy())
    # more output rows than node rows: the plan runs, in e3nn's layout (result_map is None)
    y = native(x, a, w, src, dst, 12, False).asnumpy()
    np.testing.assert_allclose(y[:9], plan(x, a, w, src, dst).asnumpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(y[9:], 0.0)


def test_conv_refuses_edges_that_name_no_node(mode, capfd):
    """The kernel stops (MindSpore raises on its return code) and says which index is wrong (on stderr). After a
    kernel error MindSpore refuses to run that compiled graph again (built-in kernels too), so each case gets its
    own Cell."""
    bad = ms.Tensor(np.array([0, 1, 2, 3, 4], np.int32))  # node 4 of 4
    for position, name in ((3, "edge_src"), (4, "edge_dst")):
        native, _ = _conv_pair()
        args = list(_graph(native, nodes=4, edges=5))
        args[position] = bad
        with pytest.raises(RuntimeError, match="conv_forward"):
            native(*args).asnumpy()
        assert f"{name}[4] = 4 is not a node index in [0, 4)" in capfd.readouterr().err
