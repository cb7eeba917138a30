"""e3nn 0.6.0 reference values for ``o3._wigner`` and the ``D_from_*`` methods of Irrep/Irreps.

Writes ``tests/data/wigner.npz`` (wigner_D for l = 0..6 with input gradients, wigner_3j, generators) and
``tests/data/wigner_irreps.npz`` (``D_from_angles/quaternion/matrix/axis_angle`` of a few Irreps).
"""
import os

import numpy as np
import torch
from e3nn import o3

LMAX = 6
TRIPLES = [(0, 0, 0), (1, 1, 0), (1, 1, 1), (1, 1, 2), (1, 2, 3), (2, 2, 2), (2, 3, 4), (3, 3, 6), (4, 2, 3)]
IRREPS = ["2x0e + 1o + 2e + 3x1e + 0o + 3o", "1e", "0e", "2x4o"]


def _np(x):
    return x.detach().to(torch.float64).numpy()


def make(out_dir):
    torch.manual_seed(0)
    a, b, c = o3.rand_angles(5)
    # some angles outside [0, 2pi) and negative ones (e3nn reduces them mod 2pi; D is periodic anyway)
    a = torch.cat([a, torch.tensor([-1.3, 7.5, 0.0])])
    b = torch.cat([b, torch.tensor([4.0, -0.4, 0.0])])
    c = torch.cat([c, torch.tensor([10.2, -3.0, 0.0])])
    out = {"alpha": a, "beta": b, "gamma": c}
    g = torch.Generator().manual_seed(1)
    for l in range(LMAX + 1):
        abc = torch.stack([a, b, c]).requires_grad_(True)
        D = o3.wigner_D(l, *abc)
        W = torch.randn(D.shape, generator=g)
        (D * W).sum().backward()
        out[f"D_{l}"] = D
        out[f"W_{l}"] = W
        out[f"grad_D_{l}"] = abc.grad
        out[f"so3_generators_{l}"] = o3.so3_generators(l)
    for l in range(4):
        q = o3.change_basis_real_to_complex(l, dtype=torch.float64)
        out[f"change_basis_real_{l}"] = q.real
        out[f"change_basis_imag_{l}"] = q.imag
        x = o3.su2_generators(l)
        out[f"su2_generators_real_{l}"] = x.real
        out[f"su2_generators_imag_{l}"] = x.imag
    for l1, l2, l3 in TRIPLES:
        out[f"w3j_{l1}_{l2}_{l3}"] = o3.wigner_3j(l1, l2, l3)
    np.savez(os.path.join(out_dir, "wigner.npz"), **{k: _np(v) for k, v in out.items()})

    # D_from_* of Irreps (and of single Irrep with parity k)
    n = 3
    a, b, c = o3.rand_angles(n)
    k = torch.tensor([0.0, 1.0, 1.0])
    q = o3.rand_quaternion(n)
    R = o3.rand_matrix(n)
    R[1:] = -R[1:]  # two improper rotations
    axis = torch.randn(n, 3)
    angle = torch.rand(n) * 6.0
    out = {"alpha": a, "beta": b, "gamma": c, "k": k, "q": q, "R": R, "axis": axis, "angle": angle}
    for i, irreps in enumerate(IRREPS):
        irreps = o3.Irreps(irreps)
        out[f"angles_{i}"] = irreps.D_from_angles(a, b, c, k)
        out[f"quaternion_{i}"] = irreps.D_from_quaternion(q)
        out[f"matrix_{i}"] = irreps.D_from_matrix(R)
        out[f"axis_angle_{i}"] = irreps.D_from_axis_angle(axis, angle)
    out["irrep_1o_angles"] = o3.Irrep("1o").D_from_angles(a, b, c, k)
    out["irrep_2e_matrix"] = o3.Irrep("2e").D_from_matrix(R)
    out["irrep_3o_matrix"] = o3.Irrep("3o").D_from_matrix(R)
    np.savez(os.path.join(out_dir, "wigner_irreps.npz"), **{k_: _np(v) for k_, v in out.items()})
