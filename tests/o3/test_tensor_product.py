"""o3.TensorProduct and subclasses: e3nn 0.6.0 parity (values, input and weight gradients), equivariance,
finite-difference gradients (first order; second order in graph mode), dtypes, broadcasting, bad input."""
import json

import numpy as np
import mindspore as ms
import pytest
from mindspore import nn

from mindchemistry_e3 import o3
from mindchemistry_e3.o3 import Irreps
from mindchemistry_e3.o3._so3_np import wigner_D
from mindchemistry_e3.o3._tensor_product._conv_plan import uvu_instructions
from mindchemistry_e3.o3._tensor_product._plan import naive_tensor_product
from mindchemistry_e3.util import native_kernels


@pytest.fixture
def ref(e3nn_fixture):
    return e3nn_fixture("tensor_product")


def _build(spec, dtype):
    cls = getattr(o3, spec["cls"])
    args = list(spec["args"])
    if spec["cls"] == "TensorProduct":
        args[3] = [tuple(x) for x in args[3]]
    return cls(*args, **spec["kwargs"], dtype=dtype)


def _case(ref, i):
    return json.loads(str(ref[f"c{i}_spec"]))


def _run_case(ref, i, dtype):
    """Our output and gradients of sum(out * cot) for fixture case ``i``, weights internal when e3nn's were."""
    spec = _case(ref, i)
    tp = _build(spec, dtype)
    p = f"c{i}_"
    t = lambda a: ms.Tensor(ref[p + a], dtype)  # noqa: E731
    square = spec["cls"] == "TensorSquare"
    inputs = [t("x1")] + ([] if square else [t("x2")])
    has_w = p + "w" in ref
    cot = t("cot")
    if has_w and tp.internal_weights:
        tp.weight.set_data(t("w"))

        def f(*xs):
            return (tp(*xs) * cot).sum()

        grad_fn = ms.grad(f, grad_position=tuple(range(len(inputs))), weights=tp.trainable_params())
        gx, gw = grad_fn(*inputs)
        out = tp(*inputs)
        gw = gw[0]
    elif has_w:
        def f(*xs):
            return (tp(*xs) * cot).sum()

        inputs = inputs + [t("w")]
        grads = ms.grad(f, grad_position=tuple(range(len(inputs))))(*inputs)
        gx, gw = grads[:-1], grads[-1]
        out = tp(*inputs)
    else:
        def f(*xs):
            return (tp(*xs) * cot).sum()

        gx = ms.grad(f, grad_position=tuple(range(len(inputs))))(*inputs)
        if len(inputs) == 1:
            gx = (gx,)
        gw = None
        out = tp(*inputs)
    if not isinstance(gx, tuple):
        gx = (gx,)
    return spec, tp, out, gx, gw


def _check_case(ref, i, dtype, rtol, atol):
    spec, tp, out, gx, gw = _run_case(ref, i, dtype)
    p = f"c{i}_"
    msg = json.dumps(spec)
    assert str(tp.irreps_out) == str(ref[p + "irreps_out"]), msg
    np.testing.assert_allclose(out.asnumpy(), ref[p + "out"], rtol=rtol, atol=atol, err_msg=msg)
    np.testing.assert_allclose(gx[0].asnumpy(), ref[p + "grad_x1"], rtol=rtol, atol=atol, err_msg=msg)
    if spec["cls"] != "TensorSquare":
        np.testing.assert_allclose(gx[1].asnumpy(), ref[p + "grad_x2"], rtol=rtol, atol=atol, err_msg=msg)
    if gw is not None:
        np.testing.assert_allclose(gw.asnumpy(), ref[p + "grad_w"], rtol=rtol, atol=atol, err_msg=msg)
    np.testing.assert_allclose([x.path_weight for x in tp.instructions], ref[p + "path_weight"], rtol=1e-12)


def _forward_only(ref, i, dtype):
    spec = _case(ref, i)
    tp = _build(spec, dtype)
    p = f"c{i}_"
    args = [ms.Tensor(ref[p + "x1"], dtype)]
    if spec["cls"] != "TensorSquare":
        args.append(ms.Tensor(ref[p + "x2"], dtype))
    if p + "w" in ref:
        args.append(ms.Tensor(ref[p + "w"], dtype))
    return spec, tp(*args).asnumpy()


def test_matches_e3nn_values_all_cases(ref):
    """Forward values of every fixture case in float64 (PyNative: no compile per case)."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    for i in range(int(ref["num_cases"])):
        spec, out = _forward_only(ref, i, ms.float64)
        np.testing.assert_allclose(out, ref[f"c{i}_out"], rtol=1e-10, atol=1e-12, err_msg=json.dumps(spec))


# NequIP's convolution product: every path to its own output irrep, the outputs sorted
NEQUIP_CASE = 45
# one case per connection mode, weight kind and subclass: values + gradients w.r.t. inputs and weights
GRAD_CASES = [0, 3, 5, 9, 11, 14, 17, 20, 21, 22, 32, 35, 37, 39, 41, 43]


@pytest.mark.slow
@pytest.mark.parametrize("i", GRAD_CASES)
def test_matches_e3nn_with_grads(ref, i):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    _check_case(ref, i, ms.float64, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("i", [3, 34, NEQUIP_CASE])
def test_matches_e3nn(ref, mode, i):
    """uvu with per-sample weights (NequIP's groups and its convolution's paths, every one to its own output) and a
    fully connected product with internal weights, both modes."""
    _check_case(ref, i, ms.float64, rtol=1e-10, atol=1e-12)


def test_nequip_product_takes_the_paired_plan(ref):
    """The fixture of NequIP's convolution product runs the convolution's plan on paired rows, its weights permuted a
    path at a time (so the parity above tests that code)."""
    spec = _case(ref, NEQUIP_CASE)
    assert spec["args"][1] == "0e + 1o + 2e + 3o"
    with native_kernels(False):  # on CPU the uvu kernels take these rows (test_tensor_product_cpu)
        tp = _build(spec, ms.float64)
    assert tp._paired is not None and tp._paired.weight_map.size % 2 == 0  # whole paths of mul 2


def test_matches_e3nn_float32(ref):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    for i in (1, 4, 27, 36, 42):
        spec, out = _forward_only(ref, i, ms.float32)
        np.testing.assert_allclose(out, ref[f"c{i}_out"], rtol=1e-5, atol=1e-5, err_msg=json.dumps(spec))
    _check_case(ref, 3, ms.float32, rtol=1e-5, atol=1e-5)


def test_every_mode_and_subclass_is_covered(ref):
    specs = [_case(ref, i) for i in range(int(ref["num_cases"]))]
    modes = {ins[3] for s in specs if s["cls"] == "TensorProduct" for ins in s["args"][3]}
    assert modes == {"uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw"}
    classes = {s["cls"] for s in specs}
    assert classes == {"TensorProduct", "FullyConnectedTensorProduct", "FullTensorProduct",
                       "ElementwiseTensorProduct", "TensorSquare"}
    norms = {(s["kwargs"].get("irrep_normalization"), s["kwargs"].get("path_normalization")) for s in specs}
    assert len(norms) >= 9


# ----------------------------------------------------------------------------------------------------------
def _D(irreps, angles, parity):
    irreps = Irreps(irreps)
    blocks = []
    for mul, ir in irreps:
        d = wigner_D(ir.l, *angles) * (ir.p if parity == -1 else 1)
        blocks += [d] * mul
    n = sum(b.shape[0] for b in blocks)
    out = np.zeros((n, n))
    k = 0
    for b in blocks:
        out[k:k + b.shape[0], k:k + b.shape[0]] = b
        k += b.shape[0]
    return out


@pytest.mark.parametrize("make", [
    lambda: o3.FullyConnectedTensorProduct("2x0e + 2x1o + 1x2e", "0e + 1o + 2e", "2x0e + 2x1o + 2x1e + 1x2o",
                                           dtype=ms.float64),
    lambda: o3.TensorProduct("2x0e + 2x1o + 2x2e", "0e + 1o + 2e + 3o", "2x1o + 2x3o + 2x2e",
                             [(1, 0, 0, "uvu", True), (2, 3, 1, "uvu", True), (0, 2, 2, "uvu", True),
                              (1, 1, 2, "uvu", True)], shared_weights=False, dtype=ms.float64),
    lambda: o3.TensorSquare("2x0e + 2x1o + 1x2e", dtype=ms.float64),
], ids=["fctp", "uvu_per_sample", "square"])
def test_equivariance(mode, make):
    tp = make()
    rng = np.random.default_rng(3)
    z = 4
    x1 = rng.standard_normal((z, tp.irreps_in1.dim))
    x2 = rng.standard_normal((z, tp.irreps_in2.dim))
    w = None if tp.shared_weights else ms.Tensor(rng.standard_normal((z, tp.weight_numel)))
    square = isinstance(tp, o3.TensorSquare)

    def run(a, b):
        args = [ms.Tensor(a)] + ([] if square else [ms.Tensor(b)]) + ([] if w is None else [w])
        return tp(*args).asnumpy()

    for parity in (1, -1):
        angles = rng.uniform(0, 2 * np.pi, 3)
        d1, d2, do = (_D(ir, angles, parity) for ir in (tp.irreps_in1, tp.irreps_in2, tp.irreps_out))
        out_rot_in = run(x1 @ d1.T, x2 @ d2.T)
        out_rot_out = run(x1, x2) @ do.T
        np.testing.assert_allclose(out_rot_in, out_rot_out, atol=1e-10)


# ----------------------------------------------------------------------------------------------------------
def _fd_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


@pytest.mark.parametrize("shared", [True, False])
def test_first_order_grad(mode, shared):
    tp = o3.TensorProduct("2x0e + 1x1o", "0e + 1o", "2x1o + 2x0e + 1x1e",
                          [(0, 1, 0, "uvw", True), (1, 0, 0, "uvw", True), (1, 1, 1, "uvw", True),
                           (1, 1, 2, "uvu", True)],
                          shared_weights=shared, dtype=ms.float64)
    rng = np.random.default_rng(5)
    z = 2
    x1 = rng.standard_normal((z, tp.irreps_in1.dim))
    x2 = rng.standard_normal((z, tp.irreps_in2.dim))
    w = rng.standard_normal((tp.weight_numel,) if shared else (z, tp.weight_numel))
    cot = rng.standard_normal((z, tp.irreps_out.dim))
    cot_t = ms.Tensor(cot)

    def loss(a, b, c):
        return (tp(a, b, c) * cot_t).sum()

    ga, gb, gc = ms.grad(loss, grad_position=(0, 1, 2))(ms.Tensor(x1), ms.Tensor(x2), ms.Tensor(w))

    def lnp(a, b, c):  # the loss through the independent per-path einsum reference (fast, float64)
        out = naive_tensor_product(tp.irreps_in1, tp.irreps_in2, tp.irreps_out, tp.instructions, a, b, c,
                                   shared_weights=shared)
        return float((out * cot).sum())

    assert abs(float(loss(ms.Tensor(x1), ms.Tensor(x2), ms.Tensor(w)).asnumpy()) - lnp(x1, x2, w)) < 1e-10
    np.testing.assert_allclose(ga.asnumpy(), _fd_grad(lambda a: lnp(a, x2, w), x1), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gb.asnumpy(), _fd_grad(lambda b: lnp(x1, b, w), x2), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gc.asnumpy(), _fd_grad(lambda c: lnp(x1, x2, c), w), rtol=1e-6, atol=1e-8)


def _scalar_second_input_tp():
    """NequIP's self-connection shape: every path uvw with a scalar second input (outer product + one BatchMatMul)."""
    tp = o3.FullyConnectedTensorProduct("2x0e + 2x1o + 1x2e + 1x0o", "2x0e + 0o", "3x0e + 2x1o + 2x2o + 1x2e",
                                        dtype=ms.float64)
    assert tp._scalar is not None
    return tp


def test_scalar_second_input_matches_reference_and_gradients(mode):
    tp = _scalar_second_input_tp()
    rng = np.random.default_rng(6)
    x1, x2 = rng.standard_normal((3, tp.irreps_in1.dim)), rng.standard_normal((3, tp.irreps_in2.dim))
    w = rng.standard_normal(tp.weight_numel)
    cot = rng.standard_normal((3, tp.irreps_out.dim))
    ref = naive_tensor_product(tp.irreps_in1, tp.irreps_in2, tp.irreps_out, tp.instructions, x1, x2, w)
    assert np.abs(ref).max() > 0.1
    tp.weight.set_data(ms.Tensor(w))
    np.testing.assert_allclose(tp(ms.Tensor(x1), ms.Tensor(x2)).asnumpy(), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tp(ms.Tensor(x1), ms.Tensor(x2), ms.Tensor(w)).asnumpy(), ref, rtol=0, atol=1e-12)
    cot_t = ms.Tensor(cot)

    def loss(a, b, c):
        return (tp(a, b, c) * cot_t).sum()

    grads = ms.grad(loss, grad_position=(0, 1, 2))(ms.Tensor(x1), ms.Tensor(x2), ms.Tensor(w))

    def lnp(a, b, c):
        return float((naive_tensor_product(tp.irreps_in1, tp.irreps_in2, tp.irreps_out, tp.instructions, a, b,
                                           c) * cot).sum())

    for g, f, x in zip(grads, (lambda a: lnp(a, x2, w), lambda b: lnp(x1, b, w), lambda c: lnp(x1, x2, c)),
                       (x1, x2, w)):
        np.testing.assert_allclose(g.asnumpy(), _fd_grad(f, x), rtol=1e-6, atol=1e-8)


class _ForceLike(nn.Cell):
    """L = sum (d <tp(x1, x2), cot> / d x1)^2: a force-style loss whose weight gradient is second order."""

    def __init__(self, tp):
        super().__init__()
        self.tp = tp

    def energy(self, x1, x2, cot):
        return (self.tp(x1, x2) * cot).sum() + ((self.tp(x1, x2) ** 2) * cot).sum()

    def construct(self, x1, x2, cot):
        g = ms.grad(self.energy, grad_position=0)(x1, x2, cot)
        return (g * g).sum()


@pytest.mark.parametrize("make", [
    lambda: o3.TensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o",
                             [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (1, 0, 1, "uvw", True),
                              (0, 1, 1, "uvu", True)], dtype=ms.float64),
    _scalar_second_input_tp,
], ids=["groups", "scalar_second_input"])
def test_second_order_grad(make, graph_mode):
    tp = make()
    rng = np.random.default_rng(7)
    z = 2
    x1 = ms.Tensor(rng.standard_normal((z, tp.irreps_in1.dim)))
    x2 = ms.Tensor(rng.standard_normal((z, tp.irreps_in2.dim)))
    cot = ms.Tensor(rng.standard_normal((z, tp.irreps_out.dim)))
    w0 = rng.standard_normal(tp.weight_numel)
    tp.weight.set_data(ms.Tensor(w0))
    net = _ForceLike(tp)
    gw = ms.grad(net, grad_position=None, weights=net.trainable_params())(x1, x2, cot)[0].asnumpy()

    def lw(w):
        tp.weight.set_data(ms.Tensor(w))
        return float(net(x1, x2, cot).asnumpy())

    fd = _fd_grad(lw, w0)
    np.testing.assert_allclose(gw, fd, rtol=1e-6, atol=1e-8)


class _ForceLikePerSample(nn.Cell):
    """L = sum (d E / d x2)^2 with E from a per-sample-weight product (NequIP: x2 = edge harmonics, w = radial)."""

    def __init__(self, tp):
        super().__init__()
        self.tp = tp

    def energy(self, x1, x2, w, cot):
        out = self.tp(x1, x2, w)
        return (out * cot).sum() + ((out ** 2) * cot).sum()

    def construct(self, x1, x2, w, cot):
        g = ms.grad(self.energy, grad_position=1)(x1, x2, w, cot)
        return (g * g).sum()


def _per_sample_shared_outputs():
    return o3.TensorProduct("3x0e + 3x1o", "0e + 1o", "3x0e + 3x1o + 3x1e",
                            [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True), (1, 0, 1, "uvu", True),
                             (1, 1, 0, "uvu", True), (1, 1, 2, "uvu", True)],
                            shared_weights=False, internal_weights=False, dtype=ms.float64)


def _per_sample_own_outputs():
    mid, ins = uvu_instructions("2x0e + 2x1o", "0e + 1o + 2e", "0e + 1o + 1e + 2e + 2o")
    return o3.TensorProduct("2x0e + 2x1o", "0e + 1o + 2e", mid, ins, shared_weights=False, internal_weights=False,
                            dtype=ms.float64)


@pytest.mark.parametrize("make", [_per_sample_shared_outputs, _per_sample_own_outputs], ids=["shared", "own"])
def test_second_order_grad_per_sample_weights(make, graph_mode):
    """The per-sample weight branch (the convolution's plan on paired rows) differentiated twice: paths adding into
    shared outputs, and every path to its own output with its weights permuted a path at a time."""
    with native_kernels(False):  # the plan itself (the uvu kernels: test_tensor_product_cpu)
        tp = make()
    assert tp._paired is not None
    rng = np.random.default_rng(8)
    z = 3
    x1, x2 = rng.standard_normal((z, tp.irreps_in1.dim)), rng.standard_normal((z, tp.irreps_in2.dim))
    w = rng.standard_normal((z, tp.weight_numel))
    cot = ms.Tensor(rng.standard_normal((z, tp.irreps_out.dim)))
    net = _ForceLikePerSample(tp)
    g1, gw = ms.grad(net, grad_position=(0, 2))(ms.Tensor(x1), ms.Tensor(x2), ms.Tensor(w), cot)

    def f(a, c):
        return float(net(ms.Tensor(a), ms.Tensor(x2), ms.Tensor(c), cot).asnumpy())

    # central differences on a loss of size ~1e3: ~1e-7 absolute rounding
    np.testing.assert_allclose(gw.asnumpy(), _fd_grad(lambda c: f(x1, c), w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g1.asnumpy(), _fd_grad(lambda a: f(a, w), x1), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------
def test_broadcasting_and_per_sample_weights(mode):
    tp = o3.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "0e + 2x1o", shared_weights=False,
                                        dtype=ms.float64)
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((3, 1, 5))
    x2 = rng.standard_normal((4, 4))
    w = rng.standard_normal((1, 4, tp.weight_numel))
    out = tp(ms.Tensor(x1), ms.Tensor(x2), ms.Tensor(w)).asnumpy()
    assert out.shape == (3, 4, 7)
    flat = tp(ms.Tensor(np.broadcast_to(x1, (3, 4, 5)).reshape(12, 5)),
              ms.Tensor(np.broadcast_to(x2, (3, 4, 4)).reshape(12, 4)),
              ms.Tensor(np.broadcast_to(w, (3, 4, tp.weight_numel)).reshape(12, -1))).asnumpy()
    np.testing.assert_allclose(out.reshape(12, 7), flat, atol=1e-12)


@pytest.mark.parametrize("shapes", [((4, 5), (3, 4, 4)), ((3, 4, 5), (4, 4)), ((1, 5), (4, 4))])
def test_broadcasting_with_internal_weights(shapes, mode):
    """Rows paired one to one take the lean path; every other leading shape must still broadcast."""
    tp = o3.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "0e + 2x1o", dtype=ms.float64)
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    lead = np.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    out = tp(ms.Tensor(x1), ms.Tensor(x2)).asnumpy()
    flat = tp(ms.Tensor(np.broadcast_to(x1, lead + (5,)).reshape(-1, 5)),
              ms.Tensor(np.broadcast_to(x2, lead + (4,)).reshape(-1, 4))).asnumpy()
    assert out.shape == lead + (7,)
    np.testing.assert_allclose(out.reshape(-1, 7), flat, atol=1e-12)


def test_right(mode):
    tp = o3.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "0e + 2x1o + 1e", dtype=ms.float64)
    rng = np.random.default_rng(1)
    x1 = rng.standard_normal((3, 5))
    x2 = rng.standard_normal((3, 4))
    r = tp.right(ms.Tensor(x2)).asnumpy()
    assert r.shape == (3, 5, 10)
    np.testing.assert_allclose(np.einsum("zi,zik->zk", x1, r), tp(ms.Tensor(x1), ms.Tensor(x2)).asnumpy(),
                               atol=1e-12)


def test_weight_views_and_layout():
    tp = o3.FullyConnectedTensorProduct("2x0e + 3x1o", "0e + 1o", "4x0e + 1x1o", dtype=ms.float64)
    shapes = [tuple(w.shape) for w in tp.weight_views()]
    assert shapes == [ins.path_shape for ins in tp.instructions if ins.has_weight]
    assert sum(int(np.prod(s)) for s in shapes) == tp.weight_numel == tp.weight.shape[0]
    assert tp.weight.name == "weight"
    flat = np.arange(tp.weight_numel, dtype=np.float64)
    views = list(tp.weight_views(ms.Tensor(flat), yield_instruction=True))
    np.testing.assert_array_equal(np.concatenate([v.asnumpy().reshape(-1) for _, _, v in views]), flat)
    assert [i for i, _, _ in views] == [i for i, ins in enumerate(tp.instructions) if ins.has_weight]
    assert repr(o3.ElementwiseTensorProduct("5x1o + 5x1e", "10x1e", ["0e", "0o"])) == \
        "ElementwiseTensorProduct(5x1o+5x1e x 10x1e -> 5x0o+5x0e | 10 paths | 0 weights)"


def test_internal_weights_init():
    tp = o3.FullyConnectedTensorProduct("8x0e + 8x1o", "8x0e + 8x1o", "8x0e + 8x1o")
    w = tp.weight.asnumpy()
    assert tp.weight.dtype == ms.float32 and tp.internal_weights and tp.shared_weights
    assert abs(w.mean()) < 0.1 and 0.9 < w.std() < 1.1  # standard normal, like e3nn
    ext = o3.FullyConnectedTensorProduct("2x0e", "2x0e", "2x0e", internal_weights=False)
    assert ext.weight is None and not ext.internal_weights and ext.weight_numel == 8


def test_float16_forward_runs(mode):
    tp = o3.FullyConnectedTensorProduct("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o", dtype=ms.float16)
    tp32 = o3.FullyConnectedTensorProduct("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o", dtype=ms.float32)
    tp32.weight.set_data(tp.weight.astype(ms.float32))
    x1, x2 = Irreps("4x0e + 4x1o").randn(5, -1, seed=0), Irreps("0e + 1o").randn(5, -1, seed=1)
    out = tp(x1.astype(ms.float16), x2.astype(ms.float16))
    assert out.dtype == ms.float16
    np.testing.assert_allclose(out.asnumpy().astype(np.float32), tp32(x1, x2).asnumpy(), rtol=2e-2, atol=2e-2)


def test_no_paths_gives_zeros(mode):
    tp = o3.TensorProduct("2x0e", "0e", "2x0e + 1x1o", [(0, 0, 0, "uvu", False)])
    out = tp(Irreps("2x0e").randn(3, -1), Irreps("0e").randn(3, -1)).asnumpy()
    assert out.shape == (3, 5) and np.all(out[:, 2:] == 0)


# ----------------------------------------------------------------------------------------------------------
def test_bad_input_width(mode):
    tp = o3.FullyConnectedTensorProduct("2x0e + 1o", "0e", "2x1o")
    with pytest.raises(ValueError, match=r"2x0e\+1x1o x 1x0e.*irreps_in1.dim=5.*\(3, 4\)"):
        tp(ms.Tensor(np.ones((3, 4)), ms.float32), ms.Tensor(np.ones((3, 1)), ms.float32))
    with pytest.raises(ValueError, match=r"irreps_in2.dim=1.*\(3, 2\)"):
        tp(ms.Tensor(np.ones((3, 5)), ms.float32), ms.Tensor(np.ones((3, 2)), ms.float32))


def test_bad_weight_shape(mode):
    tp = o3.FullyConnectedTensorProduct("2x0e", "0e", "2x0e", shared_weights=False)
    x = ms.Tensor(np.ones((3, 2)), ms.float32)
    y = ms.Tensor(np.ones((3, 1)), ms.float32)
    with pytest.raises(ValueError, match=r"2x0e x 1x0e.*\(\.\.\., weight_numel\) = \(3, 4\), got \(3, 5\)"):
        tp(x, y, ms.Tensor(np.ones((3, 5)), ms.float32))
    with pytest.raises(ValueError, match=r"one weight row per sample.*got \(4,?\).*needs shared_weights=True"):
        tp(x, y, ms.Tensor(np.ones(4), ms.float32))
    with pytest.raises(ValueError, match="must be given"):
        tp(x, y)
    tps = o3.FullyConnectedTensorProduct("2x0e", "0e", "2x0e", internal_weights=False)
    with pytest.raises(ValueError, match=r"shared weight must have shape \(4,\), got \(3, 4\)"):
        tps(x, y, ms.Tensor(np.ones((3, 4)), ms.float32))


def test_bad_dtype(mode):
    tp = o3.FullyConnectedTensorProduct("2x0e", "0e", "2x0e", dtype=ms.float64)
    with pytest.raises(ValueError, match=r"2x0e x 1x0e.*dtype Float64, got Float32"):
        tp(ms.Tensor(np.ones((3, 2)), ms.float32), ms.Tensor(np.ones((3, 1)), ms.float32))


def test_numpy_inputs(mode):
    tp = o3.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "2x1o", dtype=ms.float64)
    x, y = np.random.default_rng(0).standard_normal((3, 5)), np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(tp(x, y).asnumpy(), tp(ms.Tensor(x), ms.Tensor(y)).asnumpy())


def test_output_mask():
    tp = o3.TensorProduct("2x0e", "0e", "2x0e + 1x1o", [(0, 0, 0, "uvu", True)])
    np.testing.assert_array_equal(tp.output_mask.asnumpy(), [1, 1, 0, 0, 0])


def test_bad_construction():
    with pytest.raises(ValueError, match=r"1x1o x 1x1o -> 1x1e.*unknown connection mode 'uvz'"):
        o3.TensorProduct("1o", "1o", "1e", [(0, 0, 0, "uvz", True)])
    with pytest.raises(ValueError, match="parity rule"):
        o3.TensorProduct("1o", "1o", "1o", [(0, 0, 0, "uvw", True)])
    with pytest.raises(ValueError, match="i_in1=2 out of range"):
        o3.TensorProduct("1o", "1o", "1e", [(2, 0, 0, "uvw", True)])
    with pytest.raises(ValueError, match="irrep_normalization"):
        o3.FullyConnectedTensorProduct("1o", "1o", "1e", irrep_normalization="bad")
    with pytest.raises(ValueError, match="internal_weights=True requires shared_weights=True"):
        o3.FullyConnectedTensorProduct("1o", "1o", "1e", internal_weights=True, shared_weights=False)
    with pytest.raises(ValueError, match="same number of irreps"):
        o3.ElementwiseTensorProduct("2x1o", "1x1o")
    with pytest.raises(ValueError, match="ambiguous"):
        o3.TensorSquare("1o", "0e", filter_ir_out=["0e"])
