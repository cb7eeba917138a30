"""math.normalize2mom / moment: e3nn's Monte-Carlo constants (bit-exact sample, constants to 1e-13), the Cell in
both modes and dtypes, the MindSpore fallback for unknown activations, gradients, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import mint, nn, ops

from mindchemistry_e3.math import moment, normalize2mom
from mindchemistry_e3.math._normalize_activation_np import NUMPY_ACTIVATIONS, torch_randn_float64


def test_sample_is_torch_randn(e3nn_fixture):
    # the uniforms are torch's bit for bit; log / cos / sin may differ by an ulp between libm builds and CPUs
    # (seen: 328 of 4096 values one ulp apart on an AVX-512 host), so compare to a few ulp
    ref = e3nn_fixture("math_normalize2mom")
    np.testing.assert_allclose(torch_randn_float64(4096, 0), ref["randn_4096"], rtol=4e-16, atol=1e-15)


def test_constants_match_e3nn(e3nn_fixture):
    ref = e3nn_fixture("math_normalize2mom")
    for name in ref["names"]:
        name = str(name)
        cst = normalize2mom(ops.abs if name == "abs" else _by_name(name), f_numpy=NUMPY_ACTIVATIONS[name]).cst
        np.testing.assert_allclose(cst, ref[f"cst_{name}"], rtol=1e-13, err_msg=name)
        m4 = moment(ops.abs, 4, ms.float64, f_numpy=NUMPY_ACTIVATIONS[name]).asnumpy()  # e3nn ran in float64
        np.testing.assert_allclose(m4, ref[f"moment4_{name}"], rtol=1e-12, err_msg=name)


def _by_name(name):
    return {"silu": ops.silu, "tanh": ops.tanh, "sigmoid": ops.sigmoid, "relu": ops.relu, "sin": ops.sin}.get(
        name, ops.abs)


@pytest.mark.parametrize("act,name", [(ops.silu, "silu"), (mint.nn.functional.silu, "silu"), (nn.SiLU(), "silu"),
                                      (ops.tanh, "tanh"), (nn.Tanh(), "tanh"), (ops.sigmoid, "sigmoid"),
                                      (ops.abs, "abs"), (ops.relu, "relu"), (nn.Identity(), "identity")])
def test_known_activations_are_recognised(e3nn_fixture, act, name):
    ref = e3nn_fixture("math_normalize2mom")
    np.testing.assert_allclose(normalize2mom(act).cst, ref[f"cst_{name}"], rtol=1e-13)


def _ssp(x):
    """A MindSpore shifted softplus unknown to the numpy table (uses the float64-accurate exp/log form)."""
    return ops.log(1 + ops.exp(-ops.abs(x))) + ops.maximum(x, ops.zeros_like(x)) - ops.log(ops.ones_like(x) * 2)


def test_unknown_activation_falls_back_to_mindspore(e3nn_fixture):
    ref = e3nn_fixture("math_normalize2mom")
    np.testing.assert_allclose(normalize2mom(_ssp).cst, ref["cst_ssp"], rtol=1e-12)


@pytest.mark.parametrize("dtype,npdt,tol", [(ms.float64, np.float64, 1e-14), (ms.float32, np.float32, 1e-6)])
def test_cell_values_and_grad(mode, e3nn_fixture, dtype, npdt, tol):
    ref = e3nn_fixture("math_normalize2mom")
    act = normalize2mom(ops.tanh, dtype=dtype)
    x = np.linspace(-3, 3, 13).astype(npdt)
    y = act(ms.Tensor(x)).asnumpy()
    assert y.dtype == npdt
    np.testing.assert_allclose(y, np.tanh(x.astype(np.float64)) * ref["cst_tanh"], rtol=tol, atol=tol)
    g = ms.grad(act)(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(g, (1 - np.tanh(x.astype(np.float64)) ** 2) * ref["cst_tanh"], rtol=10 * tol,
                               atol=10 * tol)


def test_identity_like_constant_is_skipped():
    act = normalize2mom(ops.abs, f_numpy=lambda z: z / np.sqrt(np.mean(z ** 2)))
    assert act._is_id  # pylint: disable=protected-access
    x = ms.Tensor(np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(act(x).asnumpy(), [1.0, 2.0])


def test_bad_input():
    with pytest.raises(ValueError, match="callable"):
        normalize2mom(3.0)
    with pytest.raises(ValueError, match="dtype"):
        normalize2mom(ops.silu, dtype=ms.int32)
    with pytest.raises(ValueError, match="elementwise"):
        normalize2mom(lambda x: x.sum())
    with pytest.raises(ValueError, match="multiple of 16"):
        torch_randn_float64(10)
