"""BatchNorm: e3nn parity (training steps, running statistics, eval), equivariance, gradients, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn

from mindchemistry_e3.nn import BatchNorm
from tests.nn.nn_testing import finite_difference, irreps_D, random_rotations

CASES = range(4)


def _build(f, dtype=ms.float64):
    kwargs = dict(irreps=str(f["irreps"]), momentum=float(f["momentum"]), normalization=str(f["normalization"]),
                  reduce=str(f["reduce"]))
    if "instance" in f:
        kwargs["instance"] = str(f["instance"]) == "True"
    if "affine" in f:
        kwargs["affine"] = str(f["affine"]) == "True"
    bn = BatchNorm(**kwargs, dtype=dtype)
    np_dtype = np.float64 if dtype == ms.float64 else np.float32
    if bn.affine:
        bn.weight.set_data(ms.Tensor(f["train0_param_weight"].astype(np_dtype)))
        bn.bias.set_data(ms.Tensor(f["train0_param_bias"].astype(np_dtype)))
    return bn


class _Loss(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x, cot):
        out = self.net(x)
        return (out * cot).sum(), out


class _GradStep(nn.Cell):
    """Output and gradients of sum(out * cot) wrt the input and the trainable weights, in one compiled call."""

    def __init__(self, net):
        super().__init__()
        self.loss = _Loss(net)
        weights = net.trainable_params()
        self.has_weights = bool(weights)
        self.grad_fn = ms.value_and_grad(self.loss, grad_position=0, weights=weights if weights else None,
                                         has_aux=True)

    def construct(self, x, cot):
        (_, out), grads = self.grad_fn(x, cot)
        return out, grads


def _run(step, x, cot, dtype):
    out, grads = step(ms.Tensor(x, dtype), ms.Tensor(cot, dtype))
    if step.has_weights:
        grad_x, grad_w = grads
    else:
        grad_x, grad_w = grads, ()
    return out.asnumpy(), grad_x.asnumpy(), [g.asnumpy() for g in grad_w]


@pytest.mark.parametrize("case", CASES)
def test_matches_e3nn(mode, e3nn_fixture, case):
    f = e3nn_fixture(f"nn_layers_batchnorm_{case}")
    bn = _build(f)
    run = _GradStep(bn)
    run.set_train(True)
    for step in range(3):
        p = f"train{step}_"
        out, gx, gw = _run(run, f[p + "x"], f[p + "cot"], ms.float64)
        np.testing.assert_allclose(out, f[p + "out"], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gx, f[p + "grad_x"], rtol=1e-10, atol=1e-10)
        if bn.affine:
            np.testing.assert_allclose(gw[0], f[p + "grad_weight"], rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(gw[1], f[p + "grad_bias"], rtol=1e-10, atol=1e-10)
        if not bn.instance:
            np.testing.assert_allclose(bn.running_mean.asnumpy(), f[p + "running_mean"], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(bn.running_var.asnumpy(), f[p + "running_var"], rtol=1e-12, atol=1e-12)
    run.set_train(False)
    out, gx, gw = _run(run, f["eval_x"], f["eval_cot"], ms.float64)
    np.testing.assert_allclose(out, f["eval_out"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gx, f["eval_grad_x"], rtol=1e-10, atol=1e-10)
    if bn.affine:
        np.testing.assert_allclose(gw[0], f["eval_grad_weight"], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gw[1], f["eval_grad_bias"], rtol=1e-10, atol=1e-10)
    if not bn.instance:  # eval does not move the statistics
        np.testing.assert_allclose(bn.running_mean.asnumpy(), f["train2_running_mean"], rtol=1e-12, atol=1e-12)


def test_matches_e3nn_float32(mode, e3nn_fixture):
    f = e3nn_fixture("nn_layers_batchnorm_0")
    bn = _build(f, ms.float32)
    run = _GradStep(bn)
    run.set_train(True)
    for step in range(3):
        p = f"train{step}_"
        out, gx, _ = _run(run, f[p + "x"].astype(np.float32), f[p + "cot"].astype(np.float32), ms.float32)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, f[p + "out"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(gx, f[p + "grad_x"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.running_var.asnumpy(), f["train2_running_var"], rtol=1e-5)
    bn.set_train(False)
    out = bn(ms.Tensor(f["eval_x"].astype(np.float32))).asnumpy()
    np.testing.assert_allclose(out, f["eval_out"], rtol=1e-5, atol=1e-5)


class _TrainStep(nn.Cell):
    """A compiled step: value_and_grad of the loss; the statistics must move once per step."""

    def __init__(self, net):
        super().__init__()
        self.loss = _Loss(net)
        self.grad_fn = ms.value_and_grad(self.loss, grad_position=None, weights=net.trainable_params(),
                                         has_aux=True)

    def construct(self, x, cot):
        (loss, _), grads = self.grad_fn(x, cot)
        return loss, grads


def test_running_stats_in_compiled_train_step(graph_mode, e3nn_fixture):
    f = e3nn_fixture("nn_layers_batchnorm_1")
    bn = _build(f)
    step = _TrainStep(bn)
    step.set_train(True)
    for k in range(3):
        _, grads = step(ms.Tensor(f[f"train{k}_x"]), ms.Tensor(f[f"train{k}_cot"]))
        np.testing.assert_allclose(grads[0].asnumpy(), f[f"train{k}_grad_weight"], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(bn.running_mean.asnumpy(), f[f"train{k}_running_mean"], rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.asnumpy(), f[f"train{k}_running_var"], rtol=1e-12)
    names = [p.name.split(".")[-1] for p in bn.get_parameters()]
    assert "running_mean" in names and "running_var" in names
    assert all(not p.name.endswith(("running_mean", "running_var")) for p in bn.trainable_params())


@pytest.mark.parametrize("kwargs", [dict(), dict(reduce="max", normalization="norm"), dict(instance=True)])
def test_equivariance(mode, kwargs):
    irreps = "2x0e + 2x1o + 0o + 1e + 2e"
    bn = BatchNorm(irreps, dtype=ms.float64, **kwargs)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 17)) + 0.2
    for train in (True, False):
        bn.set_train(train)
        for a, b, g, par in random_rotations(4):
            d = irreps_D(irreps, a, b, g, par)
            out_rot = bn(ms.Tensor(x @ d.T)).asnumpy()
            out = bn(ms.Tensor(x)).asnumpy()
            np.testing.assert_allclose(out_rot, out @ d.T, atol=1e-10)


@pytest.mark.parametrize("train", [True, False])
def test_first_order_grad(graph_mode, train):
    bn = BatchNorm("2x0e + 1o + 0o", reduce="max", momentum=0.0, dtype=ms.float64)
    bn.weight.set_data(ms.Tensor(np.array([1.0, 0.7, 1.3, 0.8])))
    bn.running_var.set_data(ms.Tensor(np.array([0.5, 2.0, 1.5, 0.9])))
    run = _GradStep(bn)
    run.set_train(train)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 6))
    cot = rng.standard_normal((3, 2, 6))

    def f(x_np):
        return float((bn(ms.Tensor(x_np)).asnumpy() * cot).sum())

    _, gx, _ = _run(run, x, cot, ms.float64)
    np.testing.assert_allclose(gx, finite_difference(f, x), rtol=1e-6, atol=1e-7)


def test_bad_input():
    with pytest.raises(ValueError, match="reduce"):
        BatchNorm("0e", reduce="sum")
    with pytest.raises(ValueError, match="normalization"):
        BatchNorm("0e", normalization="l2")
    bn = BatchNorm("2x0e + 1o")
    with pytest.raises(ValueError, match="last axis of size 5"):
        bn(ms.Tensor(np.zeros((3, 4)), ms.float32))


def test_checkpoint_keeps_running_statistics(tmp_path, e3nn_fixture):
    f = e3nn_fixture("nn_layers_batchnorm_0")
    bn = _build(f)
    bn.set_train(True)
    for step in range(3):
        bn(ms.Tensor(f[f"train{step}_x"]))
    path = str(tmp_path / "bn.ckpt")
    ms.save_checkpoint(bn, path)
    fresh = _build(f)
    assert ms.load_param_into_net(fresh, ms.load_checkpoint(path)) == ([], [])
    fresh.set_train(False)
    np.testing.assert_allclose(fresh.running_var.asnumpy(), f["train2_running_var"], rtol=1e-12)
    np.testing.assert_allclose(fresh(ms.Tensor(f["eval_x"])).asnumpy(), f["eval_out"], rtol=1e-10, atol=1e-10)
