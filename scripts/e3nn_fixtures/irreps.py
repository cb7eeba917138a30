"""Fixtures for o3.Irrep / o3.Irreps: parsing, arithmetic, sort/simplify/filter, and D_from_* matrices."""
import os

import numpy as np
import torch
from e3nn import o3

CASES = [
    "", "0e", "1y", "2y", "16x1e + 32 x 2o", "3x0e+2x1o+0x2e+1x1o", "1e + 0e + 1e", "2o + 1e + 0e + 1e",
    "1e + 1e + 0e + 1e", "4x0e + 0x1o + 2x3e", "5x3o+2x0o+1x2e+7x1e", "0x0e", "10x11e + 1o",
]


def _strings(values):
    return np.array([str(v) for v in values])


def make(out_dir):
    rec = {"cases": np.array(CASES)}
    reps, dims, nums, lmaxs, sorted_, ps, invs, simp, regroup, rzm, ls = ([] for _ in range(11))
    for s in CASES:
        irreps = o3.Irreps(s)
        reps.append(repr(irreps))
        dims.append(irreps.dim)
        nums.append(irreps.num_irreps)
        lmaxs.append(max(irreps.ls) if irreps.ls else -1)
        srt = irreps.sort()
        sorted_.append(repr(srt.irreps))
        ps.append(",".join(map(str, srt.p)))
        invs.append(",".join(map(str, srt.inv)))
        simp.append(repr(irreps.simplify()))
        regroup.append(repr(irreps.regroup()))
        rzm.append(repr(irreps.remove_zero_multiplicities()))
        ls.append(",".join(map(str, irreps.ls)))
    rec.update(repr=_strings(reps), dim=np.array(dims), num_irreps=np.array(nums), lmax=np.array(lmaxs),
               sort_irreps=_strings(sorted_), sort_p=_strings(ps), sort_inv=_strings(invs),
               simplify=_strings(simp), regroup=_strings(regroup), remove_zero=_strings(rzm), ls=_strings(ls))
    base = o3.Irreps("3x0e + 2x1o + 1e + 2x2e + 0o")
    rec["filter_keep"] = np.array(repr(base.filter(keep=["0e", "1e"])))
    rec["filter_keep_str"] = np.array(repr(base.filter(keep="2e + 2x1o")))
    rec["filter_drop"] = np.array(repr(base.filter(drop="2e + 2x1o")))
    rec["filter_lmax"] = np.array(repr(base.filter(lmax=1)))
    rec["slice_by_mul"] = _strings([repr(base.slice_by_mul[a:b]) for a, b in [(0, 2), (2, 5), (1, 8), (4, 4)]])
    rec["sh"] = _strings([repr(o3.Irreps.spherical_harmonics(3)), repr(o3.Irreps.spherical_harmonics(4, p=1))])
    rec["iterator"] = _strings(list(o3.Irrep.iterator(3)))
    rec["products"] = _strings([list(o3.Irrep("2o") * o3.Irrep("1e")), list(o3.Irrep("1o") * o3.Irrep("1o"))])

    # representation matrices: Irreps.D_from_* at random inputs
    torch.manual_seed(1)
    irreps = o3.Irreps("2x0e + 1o + 1e + 2o + 0o")
    alpha, beta, gamma = o3.rand_angles(4)
    k = torch.tensor([0.0, 1.0, 1.0, 0.0])
    rec.update(D_irreps=np.array(repr(irreps)), alpha=alpha.numpy(), beta=beta.numpy(), gamma=gamma.numpy(),
               k=k.numpy(), D_angles=irreps.D_from_angles(alpha, beta, gamma, k).numpy())
    q = o3.rand_quaternion(4)
    rec.update(q=q.numpy(), D_quaternion=irreps.D_from_quaternion(q).numpy())
    R = o3.rand_matrix(4)
    R = R * torch.tensor([1.0, -1.0, 1.0, -1.0])[:, None, None]
    rec.update(R=R.numpy(), D_matrix=irreps.D_from_matrix(R).numpy())
    axis, angle = o3.rand_axis_angle(4)
    rec.update(axis=axis.numpy(), angle=angle.numpy(), D_axis_angle=irreps.D_from_axis_angle(axis, angle).numpy())
    np.savez_compressed(os.path.join(out_dir, "irreps.npz"), **rec)
