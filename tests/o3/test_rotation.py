"""Tests of o3._rotation: parity with e3nn 0.6.0, round trips, gradients, graph mode, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn

from mindchemistry_e3 import o3

ANGLE_OUTPUTS = (
    "matrix_to_angles",
    "quaternion_to_angles",
    "axis_angle_to_angles",
    "compose_angles",
    "inverse_angles",
    "xyz_to_angles",
)


def _conversions(a, b, c, a2, b2, c2, q, q2, axis, angle, axis2, angle2, xyz, R):
    """Every conversion of o3._rotation on the fixture inputs, as a flat dict name -> Tensor."""
    out = {
        "matrix_x": o3.matrix_x(angle),
        "matrix_y": o3.matrix_y(angle),
        "matrix_z": o3.matrix_z(angle),
        "angles_to_matrix": o3.angles_to_matrix(a, b, c),
        "angles_to_quaternion": o3.angles_to_quaternion(a, b, c),
        "matrix_to_quaternion": o3.matrix_to_quaternion(R),
        "axis_angle_to_quaternion": o3.axis_angle_to_quaternion(axis, angle),
        "quaternion_to_matrix": o3.quaternion_to_matrix(q),
        "axis_angle_to_matrix": o3.axis_angle_to_matrix(axis, angle),
        "angles_to_xyz": o3.angles_to_xyz(a, b),
        "compose_quaternion": o3.compose_quaternion(q, q2),
        "inverse_quaternion": o3.inverse_quaternion(q),
    }
    tuples = {
        "matrix_to_angles": o3.matrix_to_angles(R),
        "quaternion_to_angles": o3.quaternion_to_angles(q),
        "axis_angle_to_angles": o3.axis_angle_to_angles(axis, angle),
        "compose_angles": o3.compose_angles(a, b, c, a2, b2, c2),
        "inverse_angles": o3.inverse_angles(a, b, c),
        "quaternion_to_axis_angle": o3.quaternion_to_axis_angle(q),
        "matrix_to_axis_angle": o3.matrix_to_axis_angle(R),
        "angles_to_axis_angle": o3.angles_to_axis_angle(a, b, c),
        "compose_axis_angle": o3.compose_axis_angle(axis, angle, axis2, angle2),
        "xyz_to_angles": o3.xyz_to_angles(xyz),
    }
    for name, values in tuples.items():
        for i, v in enumerate(values):
            out[f"{name}_{i}"] = v
    return out


INPUTS = ("a", "b", "c", "a2", "b2", "c2", "q", "q2", "axis", "angle", "axis2", "angle2", "xyz", "R")


class _AllConversions(nn.Cell):
    """All conversions in one graph (one compile in GRAPH_MODE)."""

    def construct(self, a, b, c, a2, b2, c2, q, q2, axis, angle, axis2, angle2, xyz, R):
        return _conversions(a, b, c, a2, b2, c2, q, q2, axis, angle, axis2, angle2, xyz, R)


def _wrap(d):
    """Angle difference folded into [-pi, pi)."""
    return (d + np.pi) % (2 * np.pi) - np.pi


@pytest.mark.parametrize("dtype", [ms.float64, ms.float32])
def test_matches_e3nn(mode, dtype, e3nn_fixture):
    if mode == "graph" and dtype == ms.float32:
        pytest.skip("float32 is checked in PyNative; graph mode is covered in float64 (saves an 11 s compile)")
    ref = e3nn_fixture("rotation")
    npdt = np.float64 if dtype == ms.float64 else np.float32
    args = [ms.Tensor(ref[k].astype(npdt), dtype) for k in INPUTS]
    out = _AllConversions()(*args)
    # relative to max(1, |reference|); float32 inputs are the rounded float64 ones
    tol = 1e-10 if dtype == ms.float64 else 1e-5
    assert len(out) == len([k for k in ref if not k.startswith("grad") and k not in INPUTS])
    for name, value in out.items():
        assert value.dtype == dtype, name
        got = value.asnumpy().astype(np.float64)
        want = ref[name]
        assert got.shape == want.shape, name
        diff = got - want
        if name.rsplit("_", 1)[0] in ANGLE_OUTPUTS or name.endswith("axis_angle_1"):
            diff = _wrap(diff)
        err = np.abs(diff).max() / max(1.0, np.abs(want).max())
        assert err < tol, f"{name}: {err:.2e}"


class _WeightedAngles(nn.Cell):
    def construct(self, abc, xyz, R, w_R, w_ab, w_abc):
        e = (o3.angles_to_matrix(abc[0], abc[1], abc[2]) * w_R).sum()
        alpha, beta = o3.xyz_to_angles(xyz)
        e = e + (alpha * w_ab[0] + beta * w_ab[1]).sum()
        a, b, c = o3.matrix_to_angles(R)
        return e + (a * w_abc[0] + b * w_abc[1] + c * w_abc[2]).sum()


def test_first_order_grad_matches_e3nn(mode, e3nn_fixture):
    ref = e3nn_fixture("rotation")
    t = {k: ms.Tensor(v, ms.float64) for k, v in ref.items()}
    abc = ms.Tensor(np.stack([ref["a"], ref["b"], ref["c"]]), ms.float64)
    grads = ms.grad(_WeightedAngles(), grad_position=(0, 1, 2))(
        abc, t["xyz"], t["R"], t["grad_angles_to_matrix_w"], t["grad_xyz_to_angles_w"], t["grad_matrix_to_angles_w"]
    )
    for got, name in zip(grads, ["grad_angles_to_matrix", "grad_xyz_to_angles", "grad_matrix_to_angles"]):
        np.testing.assert_allclose(got.asnumpy(), ref[name], rtol=1e-9, atol=1e-10, err_msg=name)


def test_first_order_grad_finite_differences():
    rng = np.random.default_rng(3)
    xyz = rng.standard_normal((4, 3))
    w = rng.standard_normal((2, 4))

    def energy(x):
        alpha, beta = o3.xyz_to_angles(ms.Tensor(x, ms.float64)) if isinstance(x, np.ndarray) else o3.xyz_to_angles(x)
        return (alpha * ms.Tensor(w[0]) + beta * ms.Tensor(w[1])).sum()

    grad = ms.grad(energy)(ms.Tensor(xyz, ms.float64)).asnumpy()
    eps = 1e-6
    fd = np.zeros_like(xyz)
    for idx in np.ndindex(*xyz.shape):
        d = np.zeros_like(xyz)
        d[idx] = eps
        fd[idx] = (float(energy(xyz + d)) - float(energy(xyz - d))) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_round_trips():
    R = o3.rand_matrix(20, dtype=ms.float64, seed=5)
    Rn = R.asnumpy()
    np.testing.assert_allclose(Rn @ np.swapaxes(Rn, -1, -2), np.broadcast_to(np.eye(3), Rn.shape), atol=1e-13)
    np.testing.assert_allclose(np.linalg.det(Rn), 1.0, atol=1e-13)
    for back in [
        o3.angles_to_matrix(*o3.matrix_to_angles(R)),
        o3.quaternion_to_matrix(o3.matrix_to_quaternion(R)),
        o3.axis_angle_to_matrix(*o3.matrix_to_axis_angle(R)),
        o3.angles_to_matrix(*o3.quaternion_to_angles(o3.matrix_to_quaternion(R))),
        o3.angles_to_matrix(*o3.axis_angle_to_angles(*o3.matrix_to_axis_angle(R))),
    ]:
        np.testing.assert_allclose(back.asnumpy(), Rn, atol=1e-12)
    # compositions agree with matrix products
    a1, a2 = o3.rand_angles(20, dtype=ms.float64, seed=1), o3.rand_angles(20, dtype=ms.float64, seed=2)
    R12 = o3.angles_to_matrix(*a1).asnumpy() @ o3.angles_to_matrix(*a2).asnumpy()
    np.testing.assert_allclose(o3.angles_to_matrix(*o3.compose_angles(*a1, *a2)).asnumpy(), R12, atol=1e-12)
    q12 = o3.compose_quaternion(o3.angles_to_quaternion(*a1), o3.angles_to_quaternion(*a2))
    np.testing.assert_allclose(o3.quaternion_to_matrix(q12).asnumpy(), R12, atol=1e-12)
    aa12 = o3.compose_axis_angle(*o3.angles_to_axis_angle(*a1), *o3.angles_to_axis_angle(*a2))
    np.testing.assert_allclose(o3.axis_angle_to_matrix(*aa12).asnumpy(), R12, atol=1e-12)
    # inverses
    eye = np.broadcast_to(np.eye(3), (20, 3, 3))
    R1 = o3.angles_to_matrix(*a1).asnumpy()
    np.testing.assert_allclose(o3.angles_to_matrix(*o3.inverse_angles(*a1)).asnumpy(), np.swapaxes(R1, -1, -2),
                               atol=1e-13)
    # composing with the inverse lands on the gimbal-lock set (beta = 0), where angles are only ~1e-8 accurate
    np.testing.assert_allclose(
        o3.angles_to_matrix(*o3.compose_angles(*a1, *o3.inverse_angles(*a1))).asnumpy(), eye, atol=1e-7
    )
    q = o3.rand_quaternion(20, dtype=ms.float64, seed=4)
    qq = o3.compose_quaternion(q, o3.inverse_quaternion(q)).asnumpy()
    np.testing.assert_allclose(qq, np.broadcast_to([1.0, 0, 0, 0], (20, 4)), atol=1e-15)
    # the matrix goes through angle = 2 acos(w), only ~1e-8 accurate at w = 1 (as in e3nn)
    np.testing.assert_allclose(o3.quaternion_to_matrix(ms.Tensor(qq)).asnumpy(), eye, atol=1e-7)
    # points on the sphere: r = R(alpha, beta, 0) e_y
    x = np.random.default_rng(0).standard_normal((20, 3))
    a, b = o3.xyz_to_angles(ms.Tensor(x))
    np.testing.assert_allclose(o3.angles_to_xyz(a, b).asnumpy(), x / np.linalg.norm(x, axis=-1, keepdims=True),
                               atol=1e-13)
    np.testing.assert_allclose(o3.angles_to_matrix(a, b, ops_zeros(a)).asnumpy()[..., :, 1],
                               o3.angles_to_xyz(a, b).asnumpy(), atol=1e-13)


def ops_zeros(t):
    return ms.ops.zeros_like(t)


def test_random_and_identity_constructors():
    assert o3.rand_matrix().shape == (3, 3)
    assert o3.rand_matrix(2, 3).dtype == ms.float32
    assert o3.rand_matrix((2, 3), dtype=ms.float64).shape == (2, 3, 3, 3)
    assert [x.shape for x in o3.rand_angles(4, 1)] == [(4, 1)] * 3
    assert o3.rand_quaternion(5, dtype=ms.float64).dtype == ms.float64
    axis, angle = o3.rand_axis_angle(6, dtype=ms.float64, seed=0)
    np.testing.assert_allclose(np.linalg.norm(axis.asnumpy(), axis=-1), 1.0, atol=1e-13)
    assert (angle.asnumpy() >= 0).all() and (angle.asnumpy() <= np.pi + 1e-12).all()
    q = o3.rand_quaternion(100, dtype=ms.float64, seed=0).asnumpy()
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-13)
    # seeding: an int is reproducible, a Generator advances, None follows numpy's global state
    np.testing.assert_array_equal(o3.rand_matrix(3, seed=7).asnumpy(), o3.rand_matrix(3, seed=7).asnumpy())
    gen = np.random.default_rng(0)
    assert not np.array_equal(o3.rand_matrix(3, seed=gen).asnumpy(), o3.rand_matrix(3, seed=gen).asnumpy())
    np.random.seed(11)
    first = o3.rand_angles(3)[0].asnumpy()
    np.random.seed(11)
    np.testing.assert_array_equal(first, o3.rand_angles(3)[0].asnumpy())
    # uniform (Haar) rotations: E[R] = 0 and E[R_ij^2] = 1/3
    R = o3.rand_matrix(4000, dtype=ms.float64, seed=1).asnumpy()
    assert np.abs(R.mean(0)).max() < 0.05
    assert np.abs((R ** 2).mean(0) - 1 / 3).max() < 0.03
    # identities
    assert [float(x.abs().max()) for x in o3.identity_angles(2, dtype=ms.float64)] == [0.0] * 3
    np.testing.assert_array_equal(o3.identity_quaternion(2).asnumpy(), [[1, 0, 0, 0]] * 2)
    np.testing.assert_allclose(o3.angles_to_matrix(*o3.identity_angles(3)).asnumpy(), np.broadcast_to(np.eye(3),
                                                                                                       (3, 3, 3)))


def test_broadcasting():
    a = ms.Tensor(np.linspace(0, 1, 4).reshape(4, 1))
    b = ms.Tensor(np.linspace(0.5, 2, 3).reshape(1, 3))
    c = ms.Tensor(0.3, ms.float64)
    R = o3.angles_to_matrix(a, b, c)
    assert R.shape == (4, 3, 3, 3)
    an, bn = np.broadcast_arrays(a.asnumpy(), b.asnumpy())
    R2 = o3.angles_to_matrix(ms.Tensor(an), ms.Tensor(bn), ms.Tensor(np.full((4, 3), 0.3)))
    np.testing.assert_allclose(R.asnumpy(), R2.asnumpy(), atol=1e-15)
    q = o3.axis_angle_to_quaternion(ms.Tensor([0.0, 0.0, 1.0], ms.float64), ms.Tensor(np.zeros(5)))
    assert q.shape == (5, 4)
    assert o3.compose_quaternion(o3.identity_quaternion(1, 3), o3.identity_quaternion(2, 1)).shape == (2, 3, 4)


def test_zero_vector_is_nan_free():
    x = ms.Tensor(np.zeros((2, 3)))
    alpha, beta = o3.xyz_to_angles(x)
    assert np.isfinite(alpha.asnumpy()).all() and np.isfinite(beta.asnumpy()).all()
    q = o3.axis_angle_to_quaternion(x, ms.Tensor(np.zeros(2)))
    np.testing.assert_array_equal(q.asnumpy(), [[1, 0, 0, 0]] * 2)


class _QuatToAngles(nn.Cell):
    def construct(self, q):
        return o3.quaternion_to_angles(q)


def test_bad_input_shapes(mode):
    with pytest.raises(ValueError, match=r"q must have shape \(\.\.\., 4\), got \(2, 3, 3\)"):
        _QuatToAngles()(ms.Tensor(np.zeros((2, 3, 3)), ms.float32))
    with pytest.raises(ValueError, match="R must have shape"):
        o3.matrix_to_angles(ms.Tensor(np.zeros((3, 4)), ms.float32))
    with pytest.raises(ValueError, match="axis must have shape"):
        o3.axis_angle_to_matrix(ms.Tensor(np.zeros((2, 4)), ms.float32), ms.Tensor(np.zeros(2), ms.float32))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        o3.angles_to_matrix(ms.Tensor(np.zeros(2)), ms.Tensor(np.zeros(3)), ms.Tensor(np.zeros(2)))


def test_bad_input_constructors():
    with pytest.raises(ValueError, match="dtype"):
        o3.rand_matrix(2, dtype=ms.int32)
    with pytest.raises(ValueError, match="seed"):
        o3.rand_angles(2, seed="x")
    with pytest.raises(ValueError, match="shape"):
        o3.identity_quaternion(-1)
