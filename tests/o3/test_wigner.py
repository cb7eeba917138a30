"""Tests of o3._wigner: parity with e3nn 0.6.0, representation properties, 1st/2nd order gradients, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn

from mindchemistry_e3 import o3

LMAX = 6
TRIPLES = [(0, 0, 0), (1, 1, 0), (1, 1, 1), (1, 1, 2), (1, 2, 3), (2, 2, 2), (2, 3, 4), (3, 3, 6), (4, 2, 3)]
IRREPS = ["2x0e + 1o + 2e + 3x1e + 0o + 3o", "1e", "0e", "2x4o"]


class _AllD(nn.Cell):
    """D^l for l = 0..LMAX in one graph."""

    def construct(self, a, b, c):
        return tuple(o3.wigner_D(l, a, b, c) for l in range(LMAX + 1))


class _Energy(nn.Cell):
    """E = sum_l sum(D^l(a, b, c) * W_l)."""

    def __init__(self, ls):
        super().__init__()
        self.ls = ls

    def construct(self, a, b, c, ws):
        e = 0
        for i, l in enumerate(self.ls):
            e = e + (o3.wigner_D(l, a, b, c) * ws[i]).sum()
        return e


def _angles(ref, dtype):
    npdt = np.float64 if dtype == ms.float64 else np.float32
    return [ms.Tensor(ref[k].astype(npdt), dtype) for k in ("alpha", "beta", "gamma")]


@pytest.mark.parametrize("dtype", [ms.float64, ms.float32])
def test_matches_e3nn(mode, dtype, e3nn_fixture):
    if mode == "graph" and dtype == ms.float32:
        pytest.skip("float32 is checked in PyNative; graph mode is covered in float64 (saves a 7 s compile)")
    ref = e3nn_fixture("wigner")
    out = _AllD()(*_angles(ref, dtype))
    tol = 1e-10 if dtype == ms.float64 else 1e-5
    for l, D in enumerate(out):
        assert D.dtype == dtype
        assert D.shape == (8, 2 * l + 1, 2 * l + 1)
        # absolute error on entries of size <= 1; float32 angles are the rounded float64 ones (|angle| <= 10.2)
        np.testing.assert_allclose(D.asnumpy(), ref[f"D_{l}"], atol=tol, rtol=0, err_msg=f"l={l}")


def test_first_order_grad_matches_e3nn(mode, e3nn_fixture):
    ref = e3nn_fixture("wigner")
    a, b, c = _angles(ref, ms.float64)
    ws = tuple(ms.Tensor(ref[f"W_{l}"]) for l in range(LMAX + 1))
    grads = ms.grad(_Energy(tuple(range(LMAX + 1))), grad_position=(0, 1, 2))(a, b, c, ws)
    want = sum(ref[f"grad_D_{l}"] for l in range(LMAX + 1))
    np.testing.assert_allclose(np.stack([g.asnumpy() for g in grads]), want, rtol=1e-10, atol=1e-10)


def test_first_order_grad_finite_differences():
    rng = np.random.default_rng(0)
    abc = rng.uniform(-3, 3, (3, 2))
    w = (ms.Tensor(rng.standard_normal((2, 7, 7))),)
    energy = _Energy((3,))

    def e(x):
        return float(energy(*[ms.Tensor(v) for v in x], w))

    grads = ms.grad(energy, grad_position=(0, 1, 2))(*[ms.Tensor(v) for v in abc], w)
    grads = np.stack([g.asnumpy() for g in grads])
    eps = 1e-6
    fd = np.zeros_like(abc)
    for idx in np.ndindex(*abc.shape):
        d = np.zeros_like(abc)
        d[idx] = eps
        fd[idx] = (e(abc + d) - e(abc - d)) / (2 * eps)
    np.testing.assert_allclose(grads, fd, rtol=1e-7, atol=1e-8)


class _Force(nn.Cell):
    """F = dE/d(alpha, beta, gamma) of E = sum(D^l * W) (first order, inside the graph)."""

    def __init__(self, l):
        super().__init__()
        self.energy = _Energy((l,))
        self.grad = ms.grad(self.energy, grad_position=(0, 1, 2))

    def construct(self, a, b, c, w):
        ga, gb, gc = self.grad(a, b, c, (w,))
        return ops_stack((ga, gb, gc))


def ops_stack(xs):
    return ms.ops.stack(xs)


class _ForceLoss(nn.Cell):
    def __init__(self, l):
        super().__init__()
        self.force = _Force(l)

    def construct(self, a, b, c, w, v):
        return (self.force(a, b, c, w) * v).sum()


def test_second_order_grad(graph_mode):
    l = 3
    rng = np.random.default_rng(1)
    abc = rng.uniform(-3, 3, (3, 2))
    w = ms.Tensor(rng.standard_normal((2, 7, 7)))
    v = rng.standard_normal((3, 2))
    force = _Force(l)
    got = ms.grad(_ForceLoss(l), grad_position=(0, 1, 2))(*[ms.Tensor(x) for x in abc], w, ms.Tensor(v))
    got = np.stack([g.asnumpy() for g in got])
    eps = 1e-6
    fd = np.zeros_like(abc)
    for idx in np.ndindex(*abc.shape):
        d = np.zeros_like(abc)
        d[idx] = eps
        lp = (force(*[ms.Tensor(x) for x in abc + d], w).asnumpy() * v).sum()
        lm = (force(*[ms.Tensor(x) for x in abc - d], w).asnumpy() * v).sum()
        fd[idx] = (lp - lm) / (2 * eps)
    assert np.abs(got).max() > 1e-2  # not trivially zero
    np.testing.assert_allclose(got, fd, rtol=1e-7, atol=1e-8)


def test_representation_properties():
    a1 = o3.rand_angles(10, dtype=ms.float64, seed=1)
    a2 = o3.rand_angles(10, dtype=ms.float64, seed=2)
    a12 = o3.compose_angles(*a1, *a2)
    R = o3.angles_to_matrix(*a1).asnumpy()
    for l in range(LMAX + 1):
        D1 = o3.wigner_D(l, *a1).asnumpy()
        D2 = o3.wigner_D(l, *a2).asnumpy()
        eye = np.broadcast_to(np.eye(2 * l + 1), D1.shape)
        np.testing.assert_allclose(o3.wigner_D(l, *a12).asnumpy(), D1 @ D2, atol=1e-12)  # D(R1 R2) = D(R1) D(R2)
        np.testing.assert_allclose(D1 @ np.swapaxes(D1, -1, -2), eye, atol=1e-13)  # orthogonal
        np.testing.assert_allclose(np.linalg.det(D1), 1.0, atol=1e-12)
        np.testing.assert_allclose(o3.wigner_D(l, *o3.inverse_angles(*a1)).asnumpy(), np.swapaxes(D1, -1, -2),
                                   atol=1e-13)
        np.testing.assert_allclose(o3.wigner_D(l, *o3.identity_angles(10, dtype=ms.float64)).asnumpy(), eye,
                                   atol=1e-14)
    np.testing.assert_allclose(o3.wigner_D(1, *a1).asnumpy(), R, atol=1e-14)  # e3nn's l=1 basis is (x, y, z)
    # 3j symbols are invariant: C_lmn = C_ijk D1_il D2_jm D3_kn
    for l1, l2, l3 in [(1, 1, 2), (2, 3, 4)]:
        C = o3.wigner_3j(l1, l2, l3, dtype=ms.float64).asnumpy()
        Ds = [o3.wigner_D(l, *[x[:1] for x in a1]).asnumpy()[0] for l in (l1, l2, l3)]
        rotated = np.einsum("ijk,il,jm,kn->lmn", C, *Ds)
        np.testing.assert_allclose(rotated, C, atol=1e-13)


def test_broadcasting_and_shapes():
    a = ms.Tensor(np.linspace(0, 1, 3).reshape(3, 1))
    b = ms.Tensor(np.linspace(0, 2, 4))
    c = ms.Tensor(0.5, ms.float64)
    D = o3.wigner_D(2, a, b, c)
    assert D.shape == (3, 4, 5, 5)
    an, bn = np.broadcast_arrays(a.asnumpy(), b.asnumpy())
    np.testing.assert_allclose(D.asnumpy(), o3.wigner_D(2, ms.Tensor(an), ms.Tensor(bn),
                                                        ms.Tensor(np.full((3, 4), 0.5))).asnumpy(), atol=1e-15)
    assert o3.wigner_D(0, c, c, c).shape == (1, 1)


def test_wigner_3j_and_generators_match_e3nn(e3nn_fixture):
    ref = e3nn_fixture("wigner")
    for l1, l2, l3 in TRIPLES:
        C = o3.wigner_3j(l1, l2, l3, dtype=ms.float64)
        assert C.dtype == ms.float64
        np.testing.assert_allclose(C.asnumpy(), ref[f"w3j_{l1}_{l2}_{l3}"], atol=1e-12, rtol=0)
        assert o3.wigner_3j(l1, l2, l3).dtype == ms.float32
    for l in range(LMAX + 1):
        np.testing.assert_allclose(o3.so3_generators(l, dtype=ms.float64).asnumpy(), ref[f"so3_generators_{l}"],
                                   atol=1e-12)
    for l in range(4):
        Q = o3.change_basis_real_to_complex(l, dtype=ms.float64)
        assert Q.dtype == ms.complex128
        np.testing.assert_allclose(Q.asnumpy(), ref[f"change_basis_real_{l}"] + 1j * ref[f"change_basis_imag_{l}"],
                                   atol=1e-15)
        X = o3.su2_generators(l)
        assert X.dtype == ms.complex64
        np.testing.assert_allclose(X.asnumpy(), ref[f"su2_generators_real_{l}"] + 1j * ref[f"su2_generators_imag_{l}"],
                                   atol=1e-6)


class _DFromAll(nn.Cell):
    def __init__(self, irreps):
        super().__init__()
        self.irreps = irreps

    def construct(self, a, b, c, k, q, R, axis, angle):
        return (self.irreps.D_from_angles(a, b, c, k), self.irreps.D_from_quaternion(q),
                self.irreps.D_from_matrix(R), self.irreps.D_from_axis_angle(axis, angle))


def test_irreps_D_from_matches_e3nn(e3nn_fixture):
    ref = e3nn_fixture("wigner_irreps")
    t = {k: ms.Tensor(ref[k]) for k in ("alpha", "beta", "gamma", "k", "q", "R", "axis", "angle")}
    args = [t[k] for k in ("alpha", "beta", "gamma", "k", "q", "R", "axis", "angle")]
    for i, irreps in enumerate(IRREPS):
        out = _DFromAll(o3.Irreps(irreps))(*args)
        for name, got in zip(("angles", "quaternion", "matrix", "axis_angle"), out):
            np.testing.assert_allclose(got.asnumpy(), ref[f"{name}_{i}"], atol=1e-10, rtol=0,
                                       err_msg=f"{irreps}: D_from_{name}")
    np.testing.assert_allclose(o3.Irrep("1o").D_from_angles(t["alpha"], t["beta"], t["gamma"], t["k"]).asnumpy(),
                               ref["irrep_1o_angles"], atol=1e-10)
    np.testing.assert_allclose(o3.Irrep("2e").D_from_matrix(t["R"]).asnumpy(), ref["irrep_2e_matrix"], atol=1e-10)
    np.testing.assert_allclose(o3.Irrep("3o").D_from_matrix(t["R"]).asnumpy(), ref["irrep_3o_matrix"], atol=1e-10)


def test_bad_input():
    x = ms.Tensor(0.1)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="l must be a non-negative integer"):
            o3.wigner_D(bad, x, x, x)
    with pytest.raises(ValueError, match="selection rule"):
        o3.wigner_3j(1, 1, 3)
    with pytest.raises(ValueError, match="l2 must be a non-negative integer"):
        o3.wigner_3j(1, -1, 1)
    with pytest.raises(ValueError, match="dtype"):
        o3.wigner_3j(1, 1, 1, dtype=ms.int32)
    with pytest.raises(ValueError, match="dtype"):
        o3.su2_generators(1, dtype=ms.float16)
    with pytest.raises(ValueError, match="l must be a non-negative integer"):
        o3.so3_generators(-2)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        o3.wigner_D(1, ms.Tensor(np.zeros(2)), ms.Tensor(np.zeros(3)), x)
    with pytest.raises(ValueError, match="beta must be a MindSpore Tensor"):
        o3.wigner_D(1, x, 0.5, x)
