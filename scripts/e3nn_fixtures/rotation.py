"""e3nn 0.6.0 reference values for ``o3._rotation``: every conversion, composition and gradient.

Writes ``tests/data/rotation.npz``. Inputs are random but away from the gimbal-lock set (beta not near 0 or pi)
so that Euler angles are well defined.
"""
import os

import numpy as np
import torch
from e3nn import o3


def _np(x):
    return x.detach().to(torch.float64).numpy()


def make(out_dir):
    torch.manual_seed(0)
    n = 7
    a, b, c = o3.rand_angles(n)
    b = b.clamp(0.2, np.pi - 0.2)
    a2, b2, c2 = o3.rand_angles(n)
    q = o3.rand_quaternion(n)
    q[:3] = -q[:3]  # some with negative w
    q2 = o3.rand_quaternion(n)
    axis = torch.randn(n, 3) * 2.0  # not normalised
    angle = torch.rand(n) * 2 * np.pi - np.pi
    axis2 = torch.randn(n, 3)
    angle2 = torch.rand(n) * 2 * np.pi
    xyz = torch.randn(n, 3) * 3.0
    R = o3.angles_to_matrix(a, b, c)

    out = dict(
        a=a, b=b, c=c, a2=a2, b2=b2, c2=c2, q=q, q2=q2, axis=axis, angle=angle, axis2=axis2, angle2=angle2, xyz=xyz,
        R=R,
        matrix_x=o3.matrix_x(angle), matrix_y=o3.matrix_y(angle), matrix_z=o3.matrix_z(angle),
        angles_to_matrix=R,
        angles_to_quaternion=o3.angles_to_quaternion(a, b, c),
        matrix_to_quaternion=o3.matrix_to_quaternion(R),
        axis_angle_to_quaternion=o3.axis_angle_to_quaternion(axis, angle),
        quaternion_to_matrix=o3.quaternion_to_matrix(q),
        axis_angle_to_matrix=o3.axis_angle_to_matrix(axis, angle),
        angles_to_xyz=o3.angles_to_xyz(a, b),
        compose_quaternion=o3.compose_quaternion(q, q2),
        inverse_quaternion=o3.inverse_quaternion(q),
    )
    for name, value in [
        ("matrix_to_angles", o3.matrix_to_angles(R)),
        ("quaternion_to_angles", o3.quaternion_to_angles(q)),
        ("axis_angle_to_angles", o3.axis_angle_to_angles(axis, angle)),
        ("compose_angles", o3.compose_angles(a, b, c, a2, b2, c2)),
        ("inverse_angles", o3.inverse_angles(a, b, c)),
        ("quaternion_to_axis_angle", o3.quaternion_to_axis_angle(q)),
        ("matrix_to_axis_angle", o3.matrix_to_axis_angle(R)),
        ("angles_to_axis_angle", o3.angles_to_axis_angle(a, b, c)),
        ("compose_axis_angle", o3.compose_axis_angle(axis, angle, axis2, angle2)),
        ("xyz_to_angles", o3.xyz_to_angles(xyz)),
    ]:
        for i, v in enumerate(value):
            out[f"{name}_{i}"] = v

    # gradients of weighted sums (weights fixed by the seed)
    g = torch.Generator().manual_seed(1)
    w_R = torch.randn(n, 3, 3, generator=g)
    w_ab = torch.randn(2, n, generator=g)
    abc = torch.stack([a, b, c]).requires_grad_(True)
    (o3.angles_to_matrix(*abc) * w_R).sum().backward()
    out["grad_angles_to_matrix_w"] = w_R
    out["grad_angles_to_matrix"] = abc.grad
    xyz_g = xyz.clone().requires_grad_(True)
    alpha, beta = o3.xyz_to_angles(xyz_g)
    (alpha * w_ab[0] + beta * w_ab[1]).sum().backward()
    out["grad_xyz_to_angles_w"] = w_ab
    out["grad_xyz_to_angles"] = xyz_g.grad
    R_g = R.clone().requires_grad_(True)
    res = o3.matrix_to_angles(R_g)
    w_abc = torch.randn(3, n, generator=g)
    sum((r * w).sum() for r, w in zip(res, w_abc)).backward()
    out["grad_matrix_to_angles_w"] = w_abc
    out["grad_matrix_to_angles"] = R_g.grad

    np.savez(os.path.join(out_dir, "rotation.npz"), **{k: _np(v) for k, v in out.items()})
