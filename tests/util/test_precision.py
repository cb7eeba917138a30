"""The precision policy (``compute_dtype=``): float16 / bfloat16 MatMul operands, results and sums in ``dtype``.

Each Cell with big products is compared with its float32 twin (same weights) to the scale the operand precision
allows (float16: 2^-11 relative rounding per operand, bfloat16: 2^-8), must differ from it (the products really run
in the lower precision), stays equivariant to that scale, and its gradients run. bfloat16 builds and runs on CPU
(emulated: operands rounded to bfloat16, products in float32). MindSpore's ``amp.auto_mixed_precision`` stops with
an error that names ``compute_dtype``.
"""
import numpy as np
import mindspore as ms
import pytest
from mindspore import amp, nn, ops

from mindchemistry_e3 import o3
from mindchemistry_e3.nn import Activation, FullyConnectedNet, Gate
from mindchemistry_e3.util.precision import (LowPrecisionProduct, check_compute_dtype, low_precision,
                                             product_mode, refuse_amp_rewrite)

#: largest relative deviation (max |difference| / max |float32 output|) allowed, and the smallest expected
SCALE = {ms.float16: (8 * 2.0 ** -11, 2.0 ** -16), ms.bfloat16: (8 * 2.0 ** -8, 2.0 ** -12)}
LOW = [ms.float16, ms.bfloat16]
IRREPS = o3.Irreps("8x0e + 8x1o + 4x2e")


def _copy_params(src, dst):
    for p, q in zip(src.get_parameters(), dst.get_parameters()):
        q.set_data(ms.Tensor(p.asnumpy(), q.dtype))


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def _tensor(a):
    return ms.Tensor(np.asarray(a, np.float32), ms.float32)


def _d(irreps, r):
    """The representation matrix of ``irreps`` for the rotation ``r`` (numpy float64)."""
    return o3.Irreps(irreps).D_from_matrix(ms.Tensor(r, ms.float64)).asnumpy()


def _rot(x, irreps, r):
    return _tensor(x.asnumpy() @ _d(irreps, r).T)


def _conv_inputs(rng, conv, n=10, e=30):
    d1, d2 = conv.irreps_in1.dim, conv.irreps_in2.dim
    return (_tensor(rng.standard_normal((n, d1))), _tensor(rng.standard_normal((e, d2))),
            _tensor(rng.standard_normal((e, conv.weight_numel))),
            ms.Tensor(rng.integers(0, n, e), ms.int32), ms.Tensor(rng.integers(0, n, e), ms.int32))


UVU = [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True), (1, 0, 1, "uvu", True), (1, 1, 0, "uvu", True),
       (1, 1, 2, "uvu", True)]

# name -> (build(**kw) -> Cell, inputs(rng, cell) -> tuple of Tensors, rotate(R, inputs) -> inputs, irreps_out)
CASES = {
    "Linear": (lambda **kw: o3.Linear(IRREPS, IRREPS, **kw),
               lambda rng, c: (_tensor(rng.standard_normal((20, IRREPS.dim))),),
               lambda r, xs: (_rot(xs[0], IRREPS, r),), IRREPS),
    "FullyConnectedTensorProduct": (
        lambda **kw: o3.FullyConnectedTensorProduct("8x0e + 8x1o", "0e + 1o + 2e", IRREPS, **kw),
        lambda rng, c: (_tensor(rng.standard_normal((20, 32))), _tensor(rng.standard_normal((20, 9)))),
        lambda r, xs: (_rot(xs[0], "8x0e + 8x1o", r), _rot(xs[1], "0e + 1o + 2e", r)), IRREPS),
    "TensorProduct uvu per-sample weights": (
        lambda **kw: o3.TensorProduct("8x0e + 8x1o", "0e + 1o", "8x0e + 8x1o + 8x0e", UVU, shared_weights=False,
                                      **kw),
        lambda rng, c: (_tensor(rng.standard_normal((20, 32))), _tensor(rng.standard_normal((20, 4))),
                        _tensor(rng.standard_normal((20, c.weight_numel)))),
        lambda r, xs: (_rot(xs[0], "8x0e + 8x1o", r), _rot(xs[1], "0e + 1o", r), xs[2]),
        o3.Irreps("8x0e + 8x1o + 8x0e")),
    "TensorProductConv": (
        lambda **kw: o3.TensorProductConv("8x0e + 8x1o", "0e + 1o", "8x0e + 8x1o + 8x0e", UVU, **kw),
        _conv_inputs,
        lambda r, xs: (_rot(xs[0], "8x0e + 8x1o", r), _rot(xs[1], "0e + 1o", r)) + tuple(xs[2:]),
        o3.Irreps("8x0e + 8x1o + 8x0e")),
    "SphericalHarmonics": (lambda **kw: o3.SphericalHarmonics([0, 1, 2, 3, 5], True, "component", **kw),
                           lambda rng, c: (_tensor(rng.standard_normal((50, 3))),),
                           lambda r, xs: (_rot(xs[0], "1o", r),), o3.Irreps("0e + 1o + 2e + 3o + 5o")),
    "FullyConnectedNet": (lambda **kw: FullyConnectedNet([8, 32, 16], ops.silu, **kw),
                          lambda rng, c: (_tensor(rng.standard_normal((20, 8))),),
                          lambda r, xs: xs, o3.Irreps("16x0e")),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("compute_dtype", LOW, ids=["float16", "bfloat16"])
def test_matches_float32_to_the_scale_of_the_precision(graph_mode, name, compute_dtype):
    build, make_inputs, _, _ = CASES[name]
    ref, low = build(), build(compute_dtype=compute_dtype)
    _copy_params(ref, low)
    xs = make_inputs(np.random.default_rng(0), ref)
    want, got = ref(*xs), low(*xs)
    assert got.dtype == ms.float32  # results come back to dtype
    err = _rel(got.asnumpy(), want.asnumpy())
    worst, least = SCALE[compute_dtype]
    assert least < err < worst, (name, compute_dtype, err)


@pytest.mark.parametrize("name", ["Linear", "TensorProductConv", "SphericalHarmonics"])
def test_runs_in_both_modes(mode, name):
    build, make_inputs, _, _ = CASES[name]
    ref, low = build(), build(compute_dtype=ms.float16)
    _copy_params(ref, low)
    xs = make_inputs(np.random.default_rng(1), ref)
    assert _rel(low(*xs).asnumpy(), ref(*xs).asnumpy()) < SCALE[ms.float16][0]


@pytest.mark.parametrize("name", ["Linear", "FullyConnectedTensorProduct", "TensorProduct uvu per-sample weights",
                                  "TensorProductConv", "SphericalHarmonics"])
@pytest.mark.parametrize("compute_dtype", LOW, ids=["float16", "bfloat16"])
def test_equivariance(graph_mode, name, compute_dtype):
    build, make_inputs, rotate, irreps_out = CASES[name]
    cell = build(compute_dtype=compute_dtype)
    xs = make_inputs(np.random.default_rng(2), cell)
    r = o3.rand_matrix(dtype=ms.float64, seed=3).asnumpy()
    out = cell(*xs).asnumpy()
    rotated_out = cell(*rotate(r, xs)).asnumpy()
    assert _rel(rotated_out, out @ _d(irreps_out, r).T) < SCALE[compute_dtype][0]


@pytest.mark.parametrize("name", ["Linear", "FullyConnectedTensorProduct", "TensorProductConv",
                                  "SphericalHarmonics", "FullyConnectedNet"])
def test_first_order_grad(graph_mode, name):
    build, make_inputs, _, _ = CASES[name]
    ref, low = build(), build(compute_dtype=ms.float16)
    _copy_params(ref, low)
    xs = make_inputs(np.random.default_rng(4), ref)

    def grads(cell):
        def loss(x):
            return ops.sin(cell(x, *xs[1:])).sum()  # not invariant (sum of squares of Y is)
        return ms.grad(loss)(xs[0]).asnumpy()

    g_ref, g_low = grads(ref), grads(low)
    assert np.isfinite(g_low).all()
    assert _rel(g_low, g_ref) < 4 * SCALE[ms.float16][0]


def test_weight_grad_runs(graph_mode):
    ref, low = o3.Linear(IRREPS, IRREPS), o3.Linear(IRREPS, IRREPS, compute_dtype=ms.float16)
    _copy_params(ref, low)
    x = _tensor(np.random.default_rng(5).standard_normal((20, IRREPS.dim)))

    def weight_grad(cell):
        def loss(v):
            return ops.sin(cell(v)).sum()
        return ms.value_and_grad(loss, grad_position=None, weights=cell.trainable_params())(x)[1][0].asnumpy()

    g_ref, g_low = weight_grad(ref), weight_grad(low)
    assert low.weight.dtype == ms.float32  # parameters stay in dtype
    assert _rel(g_low, g_ref) < 4 * SCALE[ms.float16][0]


def test_without_compute_dtype_nothing_changes():
    lin = o3.Linear("2x0e", "2x0e")
    assert lin.compute_dtype is None and isinstance(lin._matmul, ops.MatMul)  # the bare primitive
    assert check_compute_dtype(ms.float32, ms.float32, "m") is None
    assert check_compute_dtype("bfloat16", ms.float32, "m") == ms.bfloat16


@pytest.mark.parametrize("bad", [ms.float64, "int8", ms.int32])
def test_bad_input_compute_dtype(bad):
    with pytest.raises(ValueError, match=r"Linear\(.*compute_dtype"):
        o3.Linear("2x0e", "2x0e", compute_dtype=bad)


def test_bfloat16_is_emulated_on_cpu_and_native_elsewhere():
    assert product_mode(ms.bfloat16, "CPU") == "emulated"
    assert product_mode(ms.bfloat16, "Ascend") == "native"
    assert product_mode(ms.float16, "CPU") == "native"
    assert product_mode(None, "CPU") == "exact"
    mm = low_precision(ops.MatMul(), ms.bfloat16, ms.float32, device="CPU")
    assert isinstance(mm, LowPrecisionProduct) and mm.emulated
    # operands rounded to bfloat16 (8 significant bits), the product exact in float32
    a = _tensor([[1.0 + 2.0 ** -9, 3.0]])
    b = _tensor([[1.0], [1.0 + 2.0 ** -6]])
    assert mm(a, b).asnumpy()[0, 0] == pytest.approx(1.0 + 3.0 * (1.0 + 2.0 ** -6), abs=0.0)


def test_bfloat16_builds_on_cpu(graph_mode):
    # the parity of an activation is decided in numpy: CPU has no bfloat16 Sigmoid kernel
    act = Activation("4x0e + 4x0o", [ops.silu, ops.tanh], dtype=ms.bfloat16)
    assert str(act.irreps_out) == "4x0e+4x0o"
    gate = Gate("4x0e", [ops.silu], "2x0e", [ops.sigmoid], "2x1o", dtype=ms.bfloat16)
    assert gate.irreps_out.dim == 10
    build, make_inputs, _, _ = CASES["TensorProductConv"]
    conv = build(compute_dtype=ms.bfloat16)
    assert np.isfinite(conv(*make_inputs(np.random.default_rng(6), conv)).asnumpy()).all()


class _Small(nn.Cell):
    def __init__(self):
        super().__init__()
        self.sh = o3.SphericalHarmonics([0, 1, 2], True, "component")
        self.fc = FullyConnectedNet([9, 8, 4], ops.silu)
        self.lin = o3.Linear("4x0e", "2x0e")

    def construct(self, x):
        return self.lin(self.fc(self.sh(x)))


def test_amp_o1_stops_with_a_message_naming_compute_dtype(graph_mode, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # O1 writes rewritten_network/ into the working directory
    with pytest.raises(ValueError, match="compute_dtype=mindspore.float16"):
        amp.auto_mixed_precision(_Small(), "O1")


@pytest.mark.parametrize("level", ["O2", "auto"])
def test_amp_o2_and_auto_stop_with_a_message_naming_compute_dtype(graph_mode, level):
    net = amp.auto_mixed_precision(_Small(), level)
    with pytest.raises(ValueError, match="build the module with compute_dtype=Float16"):
        net(_tensor(np.ones((3, 3))))


def test_refuse_amp_rewrite_ignores_ordinary_subclasses():
    # a subclass in an imported module whose name happens to end in "Opt" is fine
    ordinary = type("LinearOpt", (o3.Linear,), {"__module__": "mindchemistry_e3"})
    refuse_amp_rewrite(ordinary)
    with pytest.raises(ValueError, match="compute_dtype"):  # O1's generated copy: refused when it is created
        type("LinearOpt", (o3.Linear,), {"__module__": "NetOpt_1"})
