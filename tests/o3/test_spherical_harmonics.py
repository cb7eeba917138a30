"""o3.spherical_harmonics / SphericalHarmonics: e3nn 0.6.0 parity (l = 0..11, float64 1e-10, float32 1e-5),
input gradients vs e3nn and finite differences, second order in graph mode, equivariance (rotations and
parity), zero vectors, the numpy plan, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3.o3 import Irreps, SphericalHarmonics, spherical_harmonics
from mindchemistry_e3.o3._so3_np import wigner_D
from mindchemistry_e3.o3._spherical_harmonics_np import (component_recursion_matrix, evaluate_lowering_np,
                                                         monomial_features_np, monomial_gradient_np, monomials,
                                                         sh_lowering, spherical_harmonics_np)
from mindchemistry_e3.util.test import assert_equivariant

LMAX = 11
SUBSET_CASES = [([2, 0, 3, 3], True, "component"), ([5], False, "norm"), ("1e + 2e + 3e", True, "integral"),
                ("0e + 1o + 2e", False, "component"), (4, True, "integral")]


class _WeightedSum(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x, w):
        return (self.net(x) * w).sum()


class _GradDot(nn.Cell):
    """x -> sum(u * d/dx sum(Y(x) * w)): a loss containing a first-order gradient."""

    def __init__(self, net):
        super().__init__()
        self.grad = ms.grad(_WeightedSum(net), grad_position=0)

    def construct(self, x, w, u):
        return (self.grad(x, w) * u).sum()


def _blockwise_close(got, ref, ls, rtol):
    """|got - ref| <= rtol * max|ref of the same l block| (raw harmonics grow like |x|^l)."""
    start = 0
    for l in ls:
        blk = slice(start, start + 2 * l + 1)
        scale = max(1.0, np.abs(ref[..., blk]).max())
        np.testing.assert_allclose(got[..., blk], ref[..., blk], rtol=0, atol=rtol * scale, err_msg=f"l={l}")
        start += 2 * l + 1


@pytest.mark.parametrize("normalize", [True, False])
def test_matches_e3nn(mode, e3nn_fixture, normalize):
    ref = e3nn_fixture("spherical_harmonics")
    ls = list(range(LMAX + 1))
    for norm in ("integral", "component", "norm"):
        key = f"{'unit' if normalize else 'raw'}_{norm}"
        for dtype, npdt, tol in ((ms.float64, np.float64, 1e-10), (ms.float32, np.float32, 1e-5)):
            if norm != "component" and (dtype == ms.float32 or mode == "graph"):
                continue  # the normalizations differ by per-l constants only: each is compiled once (pynative)
            sh = SphericalHarmonics(ls, normalize, norm, dtype=dtype)
            y = sh(ms.Tensor(ref["x"].astype(npdt))).asnumpy()
            assert y.dtype == npdt and y.shape == ref[f"{key}_y"].shape
            _blockwise_close(y, ref[f"{key}_y"], ls, tol)


@pytest.mark.parametrize("normalize", [True, False])
def test_input_grad_matches_e3nn(mode, e3nn_fixture, normalize):
    """d sum(Y * W)/dx, tiny (|x| < 1e-12) rows included. At exactly x = 0 (normalize=True) e3nn's du/dx is
    1e12 I and ours I, so there our gradient is e3nn's times 1e-12 (only Y^1 has a gradient at 0)."""
    ref = e3nn_fixture("spherical_harmonics")
    key = f"{'unit' if normalize else 'raw'}_component"
    sh = SphericalHarmonics(list(range(LMAX + 1)), normalize, "component", dtype=ms.float64)
    g = ms.grad(_WeightedSum(sh), grad_position=0)(ms.Tensor(ref["x"]), ms.Tensor(ref["w"])).asnumpy()
    expected = ref[f"{key}_grad"].copy()
    zero = np.all(ref["x"] == 0, axis=1)
    assert zero.sum() == 2
    if normalize:
        expected[zero] *= 1e-12
    rel = np.abs(g - expected) / np.maximum(np.abs(expected).max(axis=1, keepdims=True), 1.0)
    assert rel.max() < 1e-10, rel.max(axis=1)


@pytest.mark.parametrize("case", range(len(SUBSET_CASES)))
def test_subsets_and_irreps_match_e3nn(mode, e3nn_fixture, case):
    ref = e3nn_fixture("spherical_harmonics_subsets")
    l, normalize, norm = SUBSET_CASES[case]
    sh = SphericalHarmonics(l, normalize, norm, dtype=ms.float64)
    assert str(sh.irreps_out) == str(ref[f"case{case}_irreps_out"])
    assert str(sh.irreps_in) == str(ref[f"case{case}_irreps_in"])
    x = ms.Tensor(ref["x"])
    np.testing.assert_allclose(sh(x).asnumpy(), ref[f"case{case}_y"], rtol=1e-10, atol=1e-11)
    g = ms.grad(_WeightedSum(sh), grad_position=0)(x, ms.Tensor(ref[f"case{case}_w"])).asnumpy()
    expected = ref[f"case{case}_grad"].copy()
    if normalize:  # at x = 0 our du/dx is I, e3nn's 1e12 I (see test_input_grad_matches_e3nn)
        expected[np.all(ref["x"] == 0, axis=1)] *= 1e-12
    np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-9)


def test_function_form_and_leading_dims(e3nn_fixture):
    ref = e3nn_fixture("spherical_harmonics")
    x = ref["x"][:12].reshape(3, 4, 3)
    y = spherical_harmonics([0, 1, 2, 3], ms.Tensor(x), True, normalization="component").asnumpy()
    assert y.shape == (3, 4, 16)
    np.testing.assert_allclose(y.reshape(12, 16), ref["unit_component_y"][:12, :16], rtol=1e-10, atol=1e-12)
    y0 = spherical_harmonics(0, ms.Tensor(np.random.randn(2, 3).astype(np.float32)), False, "component")
    np.testing.assert_array_equal(y0.asnumpy(), [[1.0], [1.0]])


class _FunctionalWeightedSum(nn.Cell):
    """spherical_harmonics (the function) called inside construct."""

    def construct(self, x, w):
        return (spherical_harmonics([0, 1, 2, 4], x, True, normalization="norm") * w).sum()


def test_function_form_inside_construct(mode):
    rng = np.random.default_rng(8)
    x, w = ms.Tensor(rng.normal(size=(4, 3))), ms.Tensor(rng.normal(size=(4, 18)))
    cell = SphericalHarmonics([0, 1, 2, 4], True, "norm", dtype=ms.float64)
    np.testing.assert_allclose(_FunctionalWeightedSum()(x, w).asnumpy(), _WeightedSum(cell)(x, w).asnumpy(),
                               rtol=1e-13)
    g = ms.grad(_FunctionalWeightedSum(), grad_position=0)(x, w).asnumpy()
    np.testing.assert_allclose(g, ms.grad(_WeightedSum(cell), grad_position=0)(x, w).asnumpy(), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("request_, irreps_in, normalize", [([3, 1, 0, 5, 2], "1o", True),
                                                             ("0e + 1e + 2e + 3e", "1e", True),
                                                             (list(range(5)), "1o", False)])
def test_equivariance(mode, request_, irreps_in, normalize):
    """Rotations and parity (a pseudovector input gives even harmonics), via util.test.assert_equivariant."""
    sh = SphericalHarmonics(request_, normalize, "integral", dtype=ms.float64)
    assert sh.irreps_in == Irreps(irreps_in)
    assert_equivariant(sh, args_in=[ms.Tensor(np.random.default_rng(0).normal(size=(5, 3)) * 2.0)])


def test_equivariance_against_numpy_wigner_beyond_e3nn_lmax():
    """l = 13, 14 (e3nn stops at 12): Y(R x) = D(R) Y(x) with the numpy Wigner D, and |Y^l(u)|^2 = 2l+1."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 3))
    alpha, beta, gamma = 0.3, 1.1, -0.7
    rot = wigner_D(1, alpha, beta, gamma)  # D^1 is the rotation matrix in e3nn's basis
    sh = SphericalHarmonics([13, 14], True, "component", dtype=ms.float64)
    y = sh(ms.Tensor(x)).asnumpy()
    y_rot = sh(ms.Tensor(x @ rot.T)).asnumpy()
    for l, blk in ((13, slice(0, 27)), (14, slice(27, 56))):
        np.testing.assert_allclose(y_rot[:, blk], y[:, blk] @ wigner_D(l, alpha, beta, gamma).T, atol=1e-10)
        np.testing.assert_allclose((y[:, blk] ** 2).sum(1), 2 * l + 1, rtol=1e-12)


@pytest.mark.parametrize("normalize", [True, False])
def test_first_order_grad(mode, normalize):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 3))
    ls = [0, 1, 2, 3, 4, 6]
    sh = SphericalHarmonics(ls, normalize, "norm", dtype=ms.float64)
    w = rng.normal(size=(6, sh.dim))
    g = ms.grad(_WeightedSum(sh), grad_position=0)(ms.Tensor(x), ms.Tensor(w)).asnumpy()
    h = 1e-6
    fd = np.zeros_like(x)
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        plus = (sh(ms.Tensor(x + e)).asnumpy() * w).sum(1)
        minus = (sh(ms.Tensor(x - e)).asnumpy() * w).sum(1)
        fd[:, k] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ls", [[0, 1, 2, 3, 5], [0, 1, 2, 3], [2, 1]], ids=["recursion", "cubic", "quadratic"])
@pytest.mark.parametrize("normalize", [True, False])
def test_second_order_grad(graph_mode, normalize, ls):
    """Forces in a loss: d/dx (u . d/dx sum(Y * w)) against finite differences of the first-order gradient; l <= 3
    runs through PolynomialHarmonics' custom bprop (differentiated again by graph mode), l = 5 through autodiff."""
    rng = np.random.default_rng(5)
    x, u = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    sh = SphericalHarmonics(ls, normalize, "component", dtype=ms.float64)
    assert sh._polynomial == (max(ls) <= 3)
    w = rng.normal(size=(5, sh.dim))
    hess_u = ms.grad(_GradDot(sh), grad_position=0)(ms.Tensor(x), ms.Tensor(w), ms.Tensor(u)).asnumpy()
    first = ms.grad(_WeightedSum(sh), grad_position=0)
    h = 1e-5
    fd = np.zeros_like(x)
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        gp = first(ms.Tensor(x + e), ms.Tensor(w)).asnumpy()
        gm = first(ms.Tensor(x - e), ms.Tensor(w)).asnumpy()
        fd[:, k] = (((gp - gm) / (2 * h)) * u).sum(1)  # the Hessian is symmetric
    np.testing.assert_allclose(hess_u, fd, rtol=1e-5, atol=1e-5)


class _Energy(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x, w):
        return ops.sin(ops.matmul(self.net(x), w)).sum()


class _ForceLoss(nn.Cell):
    """w -> |d/dx sum(sin(Y(x) w))|^2: force training, where the second-order pass needs no derivative in x."""

    def __init__(self, net):
        super().__init__()
        self.force = ms.grad(_Energy(net), grad_position=0)

    def construct(self, x, w):
        return (self.force(x, w) ** 2).sum()


@pytest.mark.parametrize("ls,normalize", [([0, 1, 2, 3], True), ([0, 1, 2], False), ([1, 2], True)])
def test_second_order_grad_wrt_weights(graph_mode, ls, normalize):
    """The weights' gradient of a force loss (x constant) against finite differences: MindSpore prunes the
    derivative in x there, which broke a bprop that called helpers with loops ("The func graph is empty")."""
    rng = np.random.default_rng(10)
    sh = SphericalHarmonics(ls, normalize, "component", dtype=ms.float64)
    x = ms.Tensor(np.concatenate([rng.normal(size=(6, 3)), np.zeros((1, 3))]))
    w = rng.normal(size=(sh.dim, 2))
    loss = _ForceLoss(sh)
    g = ms.grad(loss, grad_position=1)(x, ms.Tensor(w)).asnumpy()
    h = 1e-6
    fd = np.zeros_like(w)
    for k in np.ndindex(*w.shape):
        e = np.zeros_like(w)
        e[k] = h
        fd[k] = (loss(x, ms.Tensor(w + e)).asnumpy() - loss(x, ms.Tensor(w - e)).asnumpy()) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-7 * np.abs(fd).max())


@pytest.mark.parametrize("ls,normalize", [([0, 1, 2, 3], True), ([0, 1, 2, 3], False), ([2, 0, 3, 3], True),
                                          ([1, 2], False)])
def test_polynomial_gradient_matches_autodiff(mode, e3nn_fixture, ls, normalize):
    """l <= 3 (PolynomialHarmonics' custom bprop) against the same degrees next to an l = 4 (autodiff, checked against
    e3nn above) with zero weight: values and input gradients agree, zero and tiny (|x| < 1e-12) rows included."""
    x = ms.Tensor(e3nn_fixture("spherical_harmonics")["x"])
    poly = SphericalHarmonics(ls, normalize, "integral", dtype=ms.float64)
    auto = SphericalHarmonics(ls + [4], normalize, "integral", dtype=ms.float64)
    assert poly._polynomial and not auto._polynomial
    w = np.random.default_rng(8).normal(size=(x.shape[0], poly.dim))
    w_auto = ms.Tensor(np.concatenate([w, np.zeros((x.shape[0], 9))], axis=1))
    np.testing.assert_allclose(poly(x).asnumpy(), auto(x).asnumpy()[:, :poly.dim], rtol=1e-13, atol=1e-13)
    g = ms.grad(_WeightedSum(poly), grad_position=0)(x, ms.Tensor(w)).asnumpy()
    g_auto = ms.grad(_WeightedSum(auto), grad_position=0)(x, w_auto).asnumpy()
    scale = np.maximum(np.abs(g_auto).max(axis=1, keepdims=True), 1.0)  # tiny rows: gradients ~ 1e12
    np.testing.assert_array_less(np.abs(g - g_auto) / scale, 1e-12)


@pytest.mark.parametrize("dtype,npdt,normalize,lmax", [(ms.float64, np.float64, True, 4),
                                                      (ms.float64, np.float64, False, 2),
                                                      (ms.float32, np.float32, True, 3)])
def test_zero_vectors_finite(graph_mode, dtype, npdt, normalize, lmax):
    """Padded edges: x = 0 gives e3nn's values; first and second order gradients are finite (masked or not)."""
    x = np.array([[0.0, 0.0, 0.0], [0.3, -1.2, 0.5], [0.0, 0.0, 0.0]], npdt)
    sh = SphericalHarmonics(list(range(lmax + 1)), normalize, "integral", dtype=dtype)
    dim = (lmax + 1) ** 2
    y = sh(ms.Tensor(x)).asnumpy()
    expected = np.zeros(dim)
    expected[0] = 1 / np.sqrt(4 * np.pi)
    np.testing.assert_allclose(y[0], expected, atol=1e-6 if npdt == np.float32 else 1e-14)
    first = ms.grad(_WeightedSum(sh), grad_position=0)
    second = ms.grad(_GradDot(sh), grad_position=0)
    for mask in (np.array([[0.0], [1.0], [0.0]], npdt), np.ones((3, 1), npdt)):
        w = ms.Tensor(np.ones((3, dim), npdt) * mask)
        g = first(ms.Tensor(x), w).asnumpy()
        h = second(ms.Tensor(x), w, ms.Tensor(np.ones((3, 3), npdt))).asnumpy()
        assert np.isfinite(g).all() and np.isfinite(h).all(), mask.ravel()
        if mask[0, 0] == 0:
            np.testing.assert_array_equal(g[0], 0.0)
            np.testing.assert_array_equal(h[0], 0.0)
        else:  # only Y^1 has a gradient at 0: sqrt(3 / 4 pi) per component (du/dx = I there)
            np.testing.assert_allclose(g[0], np.sqrt(3 / (4 * np.pi)), rtol=1e-5)


def test_recursion_plan_conventions():
    """numpy plan: the m = 0 component at the pole e_y is positive and |Y^l(u)|^2 = 2l+1 (component)."""
    for l in range(0, 16):
        m = component_recursion_matrix(l)
        assert m.shape == (3 * (2 * l + 1), 2 * l + 3)
    rng = np.random.default_rng(6)
    u = rng.normal(size=(20, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    y = spherical_harmonics_np(list(range(16)), np.concatenate([[[0.0, 1.0, 0.0]], u]), False, "component")
    start = 0
    for l in range(16):
        blk = y[:, start:start + 2 * l + 1]
        assert blk[0, l] > 0
        np.testing.assert_allclose((blk ** 2).sum(1), 2 * l + 1, rtol=1e-12)
        start += 2 * l + 1


@pytest.mark.parametrize("ls", [(0,), (1,), (2,), (0, 0, 1), (3, 0), (2, 1, 3, 2), (0, 1, 2, 3, 4), (7, 2, 0, 5)])
@pytest.mark.parametrize("normalize", [True, False])
def test_lowering_is_exact(ls, normalize):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(size=(8, 3)) * rng.uniform(0.01, 3.0, (8, 1)), np.zeros((1, 3))])
    for norm in ("integral", "component", "norm"):
        got = evaluate_lowering_np(sh_lowering(ls, norm, normalize), x, normalize)
        ref = spherical_harmonics_np(list(ls), x, normalize, norm)
        _blockwise_close(got, ref, ls, 1e-12)


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_monomial_gradient_matches_finite_differences(degree):
    """numpy plan: the gradient of F(v)^T C from the rows of C g^T (monomial_gradient) is the derivative."""
    rng = np.random.default_rng(9)
    c = rng.normal(size=(len(monomials(degree)[0]), 5))
    v, g = rng.normal(size=(6, 3)), rng.normal(size=(6, 5))
    h = 1e-6
    fd = np.zeros_like(v)
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        plus = ((monomial_features_np(v + e, degree) @ c) * g).sum(1)
        minus = ((monomial_features_np(v - e, degree) @ c) * g).sum(1)
        fd[:, k] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(monomial_gradient_np(c, degree, v, g), fd, rtol=1e-7, atol=1e-7)


def test_bad_input(mode):
    with pytest.raises(ValueError, match="non-negative"):
        SphericalHarmonics(-1, True)
    with pytest.raises(ValueError, match="non-negative"):
        SphericalHarmonics([0, 2.5], True)
    with pytest.raises(ValueError, match="at least one"):
        SphericalHarmonics([], True)
    with pytest.raises(ValueError, match="normalization"):
        SphericalHarmonics(2, True, normalization="unit")
    with pytest.raises(ValueError, match="parity"):
        SphericalHarmonics("0o", True)
    with pytest.raises(ValueError, match="parity"):
        SphericalHarmonics("1e + 2o", True)
    with pytest.raises(ValueError, match="vector"):
        SphericalHarmonics("0e + 1o", True, irreps_in="2x1o")
    with pytest.raises(ValueError, match="dtype"):
        SphericalHarmonics(1, True, dtype=ms.int32)
    sh = SphericalHarmonics([0, 1], True)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        sh(ms.Tensor(np.zeros((4, 2), np.float32)))
    with pytest.raises(ValueError, match="dtype"):
        sh(ms.Tensor(np.zeros((4, 3), np.float64)))
    with pytest.raises(ValueError, match="non-negative"):
        spherical_harmonics([1, -2], ms.Tensor(np.zeros((4, 3), np.float32)), True)
    with pytest.raises(ValueError, match="cannot interpret"):
        spherical_harmonics(1.5, ms.Tensor(np.zeros((4, 3), np.float32)), True)


def test_plan_module_imports_no_mindspore():
    import ast
    import mindchemistry_e3.o3._spherical_harmonics_np as plan_module
    import mindchemistry_e3.math._normalize_activation_np as mom_module

    for module in (plan_module, mom_module):
        with open(module.__file__, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        names = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
        names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not any(n.split(".")[0] == "mindspore" for n in names), (module.__name__, names)


def test_numpy_input(mode):
    """A numpy array goes in as a Tensor of its dtype (the function and the Cell)."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    ref = spherical_harmonics([0, 1, 2], ms.Tensor(x), True, normalization="component").asnumpy()
    np.testing.assert_allclose(spherical_harmonics([0, 1, 2], x, True, normalization="component").asnumpy(), ref)
    cell = SphericalHarmonics([0, 1, 2], True, normalization="component", dtype=ms.float64)
    np.testing.assert_allclose(cell(x).asnumpy(), ref)
    with pytest.raises(ValueError, match=r"built with dtype=Float32; got x of dtype Float64 \(build it with"):
        SphericalHarmonics([0, 1], True)(x)
