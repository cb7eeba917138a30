"""Tests of o3.Linear and its numpy plan: e3nn 0.6.0 parity (values and gradients), equivariance, finite
differences (first order, and second order in graph mode), graph and PyNative, bad input."""
import json

import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3 import o3
from mindchemistry_e3.o3._linear_plan import apply_linear_plan, linear_plan
from mindchemistry_e3.o3._so3_np import wigner_D
from tests.plan_isolation import imports_mindspore

N_CASES = 8  # tests/data/linear_<i>.npz, see scripts/e3nn_fixtures/linear.py
CTOR_KEYS = ("f_in", "f_out", "internal_weights", "shared_weights", "instructions", "biases", "path_normalization")
TOL = {ms.float64: 1e-10, ms.float32: 1e-5}


def _config(ref):
    cfg = json.loads(str(ref["config"]))
    kwargs = {k: cfg[k] for k in CTOR_KEYS if k in cfg}
    if "instructions" in kwargs:
        kwargs["instructions"] = [tuple(i) for i in kwargs["instructions"]]
    return cfg, kwargs


def _close(actual, expected, tol):
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(expected).max(initial=0.0), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol * scale)


def irreps_D(irreps, alpha, beta, gamma, parity=1):
    """Block-diagonal representation matrix of ``irreps`` in numpy (rotation, times inversion if parity=-1)."""
    blocks = []
    for mul, ir in o3.Irreps(irreps):
        d = wigner_D(ir.l, alpha, beta, gamma) * (ir.p if parity == -1 else 1)
        blocks += [d] * mul
    n = sum(b.shape[0] for b in blocks)
    out, i = np.zeros((n, n)), 0
    for b in blocks:
        out[i:i + b.shape[0], i:i + b.shape[0]] = b
        i += b.shape[0]
    return out


# ------------------------------------------------------------------------------------------------------------
# the plan alone (numpy)
@pytest.mark.parametrize("case", range(N_CASES))
def test_plan_matches_e3nn(case, e3nn_fixture):
    ref = e3nn_fixture(f"linear_{case}")
    cfg, kwargs = _config(ref)
    plan = linear_plan(cfg["irreps_in"], cfg["irreps_out"],
                       **{k: v for k, v in kwargs.items() if k not in ("internal_weights", "shared_weights")})
    assert plan.weight_numel == int(ref["weight_numel"])
    assert plan.bias_numel == int(ref["bias_numel"])
    np.testing.assert_allclose([i.path_weight for i in plan.instructions], ref["path_weights"], rtol=1e-15)
    batch = tuple(cfg["batch"])
    nb = len(batch)
    B = int(np.prod(batch))
    x = ref["x"].reshape((B,) + ref["x"].shape[nb:])
    w = ref["weight"]
    if cfg.get("shared_weights") is False:
        w = w.reshape((B,) + w.shape[nb:])
    out = apply_linear_plan(plan, x, w, ref["bias"])
    _close(out.reshape(ref["out"].shape), ref["out"], 1e-12)


def test_plan_groups_by_irrep():
    plan = linear_plan("4x0e + 3x1o + 2x0e + 5x1o", "2x0e + 3x1o + 1x2e")
    assert len(plan.groups) == 2  # one matmul per irrep, not per instruction
    (g0, g1) = plan.groups
    assert (g0.K, g0.M, g0.d) == (6, 2, 1) and (g1.K, g1.M, g1.d) == (8, 3, 3)
    assert plan.out_sources[2] is None  # 2e has no input: zeros
    np.testing.assert_array_equal(plan.output_mask, [1] * 11 + [0] * 5)
    # a repeated instruction opens a second group of the same irrep; its contribution is summed
    plan = linear_plan("3x0e", "2x0e", instructions=[(0, 0), (0, 0)])
    assert len(plan.groups) == 2 and plan.out_sources[0] == ((0, 0), (1, 0))


def test_plan_module_imports_no_mindspore():
    assert not imports_mindspore("mindchemistry_e3.o3._linear_plan")


# ------------------------------------------------------------------------------------------------------------
class _OutAndGrads(nn.Cell):
    """lin(...) and the gradient of sum(lin(...) * ct) w.r.t. every input and the internal Parameters (one graph)."""

    def __init__(self, lin):
        super().__init__()
        self.lin = lin
        self.params = ms.ParameterTuple(lin.trainable_params())
        self.grad = ops.GradOperation(get_all=True, get_by_list=len(self.params) > 0)

    def _loss(self, ct, *args):
        return (self.lin(*args) * ct).sum()

    def construct(self, ct, *args):
        if len(self.params) > 0:
            grads_in, grads_params = self.grad(self._loss, self.params)(ct, *args)
        else:
            grads_in, grads_params = self.grad(self._loss)(ct, *args), ()
        return self.lin(*args), grads_in[1:], grads_params  # drop d/d ct


def _build(ref, dtype):
    cfg, kwargs = _config(ref)
    lin = o3.Linear(cfg["irreps_in"], cfg["irreps_out"], dtype=dtype, **kwargs)
    if lin.internal_weights:
        lin.weight.set_data(ms.Tensor(ref["weight"], dtype))
        if lin.bias_numel:
            lin.bias.set_data(ms.Tensor(ref["bias"], dtype))
    return cfg, lin


@pytest.mark.parametrize("case, dtype", [pytest.param(i, ms.float64, id=f"{i}-float64") for i in range(N_CASES)]
                         + [pytest.param(i, ms.float32, id=f"{i}-float32") for i in (0, 3, 4)])
def test_matches_e3nn(case, dtype, mode, e3nn_fixture):
    ref = e3nn_fixture(f"linear_{case}")
    cfg, lin = _build(ref, dtype)
    tol = TOL[dtype]
    args = [ms.Tensor(ref["x"], dtype)]
    if not lin.internal_weights:
        args.append(ms.Tensor(ref["weight"], dtype))
        if lin.bias_numel:
            args.append(ms.Tensor(ref["bias"], dtype))
    out, grads_in, grads_params = _OutAndGrads(lin)(ms.Tensor(ref["ct"], dtype), *args)
    _close(out.asnumpy(), ref["out"], tol)
    _close(grads_in[0].asnumpy(), ref["grad_x"], tol)
    if lin.internal_weights:
        _close(grads_params[0].asnumpy(), ref["grad_weight"], tol)
        if lin.bias_numel:
            _close(grads_params[1].asnumpy(), ref["grad_bias"], tol)
    else:
        _close(grads_in[1].asnumpy(), ref["grad_weight"], tol)
        if lin.bias_numel:
            _close(grads_in[2].asnumpy(), ref["grad_bias"], tol)


def test_float16_forward():
    lin = o3.Linear("4x0e + 2x1o", "3x0e + 2x1o", biases=True, dtype=ms.float16)
    lin64 = o3.Linear("4x0e + 2x1o", "3x0e + 2x1o", biases=True, dtype=ms.float64)
    lin64.weight.set_data(ms.Tensor(lin.weight.asnumpy().astype(np.float64)))
    x = np.random.default_rng(0).standard_normal((3, 10))
    out = lin(ms.Tensor(x, ms.float16))
    assert out.dtype == ms.float16
    expected = lin64(ms.Tensor(x, ms.float64)).asnumpy()
    np.testing.assert_allclose(out.asnumpy().astype(np.float64), expected, atol=1e-2 * np.abs(expected).max())


# ------------------------------------------------------------------------------------------------------------
def test_parameters_and_init():
    lin = o3.Linear("16x0e + 8x1o", "16x0e + 4x1o", biases=True)
    names = sorted(p.name for p in lin.trainable_params())
    assert names == ["bias", "weight"]
    assert lin.weight.shape == (16 * 16 + 8 * 4,) and lin.bias.shape == (16,)
    w = lin.weight.asnumpy()
    assert abs(w.mean()) < 0.2 and 0.8 < w.std() < 1.2  # e3nn: standard normal
    assert not lin.bias.asnumpy().any()  # e3nn: zeros
    assert repr(lin) == "Linear(16x0e+8x1o -> 16x0e+4x1o | 288 weights)"
    lin = o3.Linear("3x0e", "2x0e", f_in=4, f_out=5)
    assert lin.weight.shape == (4, 5, 6)
    lin = o3.Linear("3x0e", "2x0e", shared_weights=False)
    assert lin.weight is None and not lin.internal_weights and lin.trainable_params() == []


def test_weight_views():
    lin = o3.Linear("2x0e + 3x1o", "4x0e + 1x1o", biases=True, dtype=ms.float64)
    views = list(lin.weight_views(yield_instruction=True))
    assert [(i, tuple(v.shape)) for i, _, v in views] == [(0, (2, 4)), (1, (3, 1))]
    flat = lin.weight.asnumpy()
    np.testing.assert_array_equal(views[1][2].asnumpy().reshape(-1), flat[8:])
    w = ms.Tensor(np.arange(2 * 11.0).reshape(2, 11))
    assert tuple(lin.weight_view_for_instruction(1, w).shape) == (2, 3, 1)


def test_broadcast_per_sample_weights(mode):
    lin = o3.Linear("3x0e + 2x1o", "2x0e + 1x1o", shared_weights=False, dtype=ms.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 1, 9))
    w = rng.standard_normal((5, lin.weight_numel))
    out = lin(ms.Tensor(x), ms.Tensor(w)).asnumpy()
    assert out.shape == (4, 5, 5)
    xb = np.broadcast_to(x, (4, 5, 9)).reshape(20, 9)
    wb = np.broadcast_to(w, (4, 5, lin.weight_numel)).reshape(20, -1)
    np.testing.assert_allclose(out.reshape(20, 5), apply_linear_plan(lin.plan, xb, wb), atol=1e-12)


def test_missing_outputs_are_zero(mode):
    lin = o3.Linear("3x1o", "2x0e + 2x1o + 1x2e", dtype=ms.float64)
    out = lin(ms.Tensor(np.random.default_rng(2).standard_normal((3, 9)))).asnumpy()
    assert not out[:, :2].any() and not out[:, 8:].any() and np.abs(out[:, 2:8]).min() > 0


# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shared", [True, False])
def test_equivariance(shared, mode):
    irreps_in, irreps_out = "3x0e + 2x1o + 2x2e + 1x0o + 2x1e", "2x0e + 3x1o + 1x2e + 2x0o + 1x1e"
    lin = o3.Linear(irreps_in, irreps_out, shared_weights=shared, biases=True, dtype=ms.float64)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, lin.irreps_in.dim))
    args = [] if shared else [ms.Tensor(rng.standard_normal((6, lin.weight_numel)))]
    if shared:
        lin.bias.set_data(ms.Tensor(rng.standard_normal(lin.bias_numel)))
    else:
        args.append(ms.Tensor(rng.standard_normal(lin.bias_numel)))
    out = lin(ms.Tensor(x), *args).asnumpy()
    for parity in (1, -1):  # rotation, then rotation times inversion (same shapes: one compiled graph)
        angles = rng.uniform(0, 2 * np.pi, 3)
        D_in = irreps_D(irreps_in, *angles, parity=parity)
        D_out = irreps_D(irreps_out, *angles, parity=parity)
        out_rot_in = lin(ms.Tensor(x @ D_in.T), *args).asnumpy()
        np.testing.assert_allclose(out_rot_in, out @ D_out.T, atol=1e-10)


# ------------------------------------------------------------------------------------------------------------
def test_first_order_grad_finite_differences():
    """Gradients of a nonlinear loss w.r.t. input and per-sample weights (with channels) vs central differences."""
    lin = o3.Linear("2x0e + 2x1o", "2x0e + 1x1o", f_in=2, f_out=2, shared_weights=False, dtype=ms.float64)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 8))
    w = rng.standard_normal((3, 2, 2, lin.weight_numel))

    def loss(x, w):
        return ops.sin(lin(x, w)).sum()

    gx, gw = ms.grad(loss, grad_position=(0, 1))(ms.Tensor(x), ms.Tensor(w))
    eps = 1e-6
    for arr, g, which in ((x, gx, 0), (w, gw, 1)):
        direction = rng.standard_normal(arr.shape)
        plus = [x, w]
        minus = [x, w]
        plus[which] = arr + eps * direction
        minus[which] = arr - eps * direction
        fd = (loss(*map(ms.Tensor, plus)).asnumpy() - loss(*map(ms.Tensor, minus)).asnumpy()) / (2 * eps)
        np.testing.assert_allclose((g.asnumpy() * direction).sum(), fd, rtol=1e-7)


class _ForceLoss(nn.Cell):
    """L = sum(c * F**2), F = -dE/dx, E = sum(sin(lin(x))): the force term of a training loss."""

    def __init__(self, lin):
        super().__init__()
        self.lin = lin
        self.grad_x = ops.GradOperation()

    def energy(self, x):
        return ops.sin(self.lin(x)).sum()

    def construct(self, x, c):
        f = -self.grad_x(self.energy)(x)
        return (c * f * f).sum()


@pytest.mark.parametrize("kwargs", [dict(biases=True), dict(biases=False), dict(f_in=2, f_out=3)],
                         ids=["stacked_biases", "stacked", "channels"])
def test_second_order_grad(kwargs, graph_mode):
    lin = o3.Linear("3x0e + 2x1o + 1x2e + 2x0e", "2x0e + 2x1o + 1x2e", dtype=ms.float64, **kwargs)
    assert (lin._stacked is None) == ("f_in" in kwargs)  # shared weights without channels: one BatchMatMul
    rng = np.random.default_rng(5)
    if lin.bias_numel:
        lin.bias.set_data(ms.Tensor(rng.standard_normal(lin.bias_numel)))
    shape = (4, 2, lin.irreps_in.dim) if "f_in" in kwargs else (4, lin.irreps_in.dim)
    x = ms.Tensor(rng.standard_normal(shape))
    c = ms.Tensor(rng.standard_normal(shape))
    net = _ForceLoss(lin)
    grads = ms.grad(net, grad_position=None, weights=net.trainable_params())(x, c)
    eps = 1e-6
    for p, g in zip(net.trainable_params(), grads):
        w0 = p.asnumpy().copy()
        direction = rng.standard_normal(w0.shape)
        p.set_data(ms.Tensor(w0 + eps * direction))
        lp = net(x, c).asnumpy()
        p.set_data(ms.Tensor(w0 - eps * direction))
        lm = net(x, c).asnumpy()
        p.set_data(ms.Tensor(w0))
        np.testing.assert_allclose((g.asnumpy() * direction).sum(), (lp - lm) / (2 * eps), rtol=1e-6)


# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(path_normalization="norm"), "path_normalization"),
    (dict(instructions=[(0, 5)]), "i_out=5"),
    (dict(instructions=[(-1, 0)]), "i_in=-1"),
    (dict(instructions=[(1, 0)]), "1o to 0e"),
    (dict(biases=[False, True]), "bias is only allowed"),
    (dict(biases=[True]), "one entry per output block"),
    (dict(internal_weights=True, shared_weights=False), "internal_weights=True requires"),
    (dict(f_in=2), "f_in and f_out"),
    (dict(f_in=0, f_out=1), "f_in must be a positive int"),
])
def test_bad_input_construction(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        o3.Linear("2x0e + 1x1o", "1x0e + 2x1o", **kwargs)
    assert "Linear(2x0e+1x1o -> 1x0e+2x1o)" in str(info.value)


def test_bad_input_shapes(mode):
    lin = o3.Linear("2x0e + 1x1o", "1x0e + 2x1o")
    with pytest.raises(ValueError, match=r"expected features of shape \(\.\.\., 5\)"):
        lin(ops.ones((3, 4), ms.float32))
    ext = o3.Linear("2x0e + 1x1o", "1x0e + 2x1o", shared_weights=False)
    with pytest.raises(ValueError, match="must be given"):
        ext(ops.ones((3, 5), ms.float32))
    with pytest.raises(ValueError, match="expected a weight of shape"):
        ext(ops.ones((3, 5), ms.float32), ops.ones((3, 7), ms.float32))
    with pytest.raises(ValueError, match="do not broadcast"):
        ext(ops.ones((3, 5), ms.float32), ops.ones((2, ext.weight_numel), ms.float32))
    chan = o3.Linear("2x0e", "1x0e", f_in=3, f_out=2)
    with pytest.raises(ValueError, match=r"expected features of shape \(\.\.\., 3, 2\)"):
        chan(ops.ones((4, 2, 2), ms.float32))


def test_bad_input_dtype_is_named(mode):
    lin = o3.Linear("2x0e + 1x1o", "1x0e + 2x1o")
    with pytest.raises(ValueError, match=r"Linear\(2x0e\+1x1o -> 1x0e\+2x1o\): inputs must have the module's dtype "
                                         r"Float32, got Float64"):
        lin(ms.Tensor(np.ones((3, 5)), ms.float64))


@pytest.mark.parametrize("kwargs", [dict(), dict(biases=True), dict(shared_weights=False)])
def test_empty_batch_and_numpy_input(kwargs, mode):
    lin = o3.Linear("2x0e + 1x1o", "1x0e + 2x1o", dtype=ms.float64, **kwargs)
    args = [] if lin.internal_weights else [np.ones((0, lin.weight_numel))]
    out = lin(np.zeros((0, 5)), *args)
    assert out.shape == (0, 7) and out.dtype == ms.float64
    x = np.random.default_rng(0).standard_normal((3, 5))
    args = [] if lin.internal_weights else [np.ones((3, lin.weight_numel))]
    np.testing.assert_allclose(lin(x, *args).asnumpy(), lin(ms.Tensor(x), *[ms.Tensor(a) for a in args]).asnumpy())


@pytest.mark.parametrize("biases", [False, True])
def test_large_inputs_take_the_per_irrep_lowering(biases, mode, monkeypatch):
    """Above a size (the plain-op stacked lowering's; the native kernels' is lowered too) the shared-weight Linear
    runs one MatMul per irrep: the same numbers and gradients."""
    from mindchemistry_e3.o3 import _linear

    rng = np.random.default_rng(11)
    x = ms.Tensor(rng.standard_normal((5, 16)))
    ct = ms.Tensor(rng.standard_normal((5, 13)))
    w0 = rng.standard_normal(15)
    outs = []
    for limit in (1 << 20, 0):
        monkeypatch.setattr(_linear, "_STACKED_MAX_SIZE", limit)
        monkeypatch.setattr(_linear, "_NATIVE_MAX_SIZE", limit)
        lin = o3.Linear("3x0e + 2x1o + 1x2e + 2x0e", "2x0e + 2x1o + 1x2e", biases=biases, dtype=ms.float64)
        lin.weight.set_data(ms.Tensor(w0))
        if biases:
            lin.bias.set_data(ms.Tensor(np.arange(lin.bias_numel, dtype=np.float64) + 1))
        out, grads_in, grads_params = _OutAndGrads(lin)(ct, x)
        outs.append((out.asnumpy(), grads_in[0].asnumpy(), grads_params[0].asnumpy()))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
