"""Fixtures for ``o3.ReducedTensorProducts`` and ``io.CartesianTensor`` (e3nn 0.6.0, float64).

Writes ``tests/data/reduce_io_rtp_big.npz`` (projections ``Q @ r`` of large changes of basis),
``tests/data/reduce_io_rtp.npz`` (per case ``<k>_Q`` the change of basis, ``<k>_x<i>`` inputs,
``<k>_out`` outputs, ``<k>_w`` a cotangent and ``<k>_gx<i>`` the gradients of ``sum(out * w)``) and
``tests/data/reduce_io_cartesian.npz`` (``from_cartesian`` / ``to_cartesian`` / ``from_vectors``).
"""
import json
import os

import numpy as np
import torch
from e3nn import io, o3

RTP_CASES = [
    ("ij=ji", dict(i="1o"), None, None),
    ("ij=-ji", dict(i="1o"), None, None),
    ("ijk=jik=ikj", dict(i="1o"), None, None),
    ("ijk=-jik=-ikj", dict(i="1o"), None, None),
    ("ijkl=jikl=klij", dict(i="1o"), None, None),
    ("ijkl=jikl=ijlk=klij", dict(i="1e"), None, None),
    ("ijk", dict(i="0e+1o", j="1e", k="2x0e"), None, None),
    ("ij=ji", dict(i="1o+2e"), None, None),
    ("ij=ji", dict(i="2x1o"), None, None),
    ("ij", dict(i="1o", j="2e"), ["1o", "2e", "3o"], None),
    ("ijk=jki", dict(i="1o"), None, ["0e", "1e", "1o", "2e"]),
    ("ij=-ji", dict(i="2e"), None, None),
]

# large multiplicities (many solutions per irrep): only projections of Q are stored, to keep the file small
BIG_CASES = [
    ("ijk=jik", dict(i="0e+1o+2e", k="1o+1e")),
    ("ijk=jik=ikj", dict(i="2x1o+2e")),
    ("ijkl=jikl=klij", dict(i="0e+1o")),
]

CART_FORMULAS = ["ij=ji", "ij=-ji", "ij", "ijk=-jik=-ikj", "ijk=jik", "ijkl=jikl=klij"]


def make(out_dir):
    g = torch.Generator().manual_seed(1)
    data = {}
    meta = []
    for k, (formula, irreps, f_out, f_mid) in enumerate(RTP_CASES):
        tp = o3.ReducedTensorProducts(formula, filter_ir_out=f_out, filter_ir_mid=f_mid, **irreps)
        xs = [torch.randn(3, irr.dim, generator=g, dtype=torch.float64, requires_grad=True) for irr in tp.irreps_in]
        out = tp(*xs)
        w = torch.randn(out.shape, generator=g, dtype=torch.float64)
        grads = torch.autograd.grad((out * w).sum(), xs)
        data[f"{k}_Q"] = tp.change_of_basis.double().numpy()
        data[f"{k}_out"] = out.detach().numpy()
        data[f"{k}_w"] = w.numpy()
        for i, (x, gx) in enumerate(zip(xs, grads)):
            data[f"{k}_x{i}"] = x.detach().numpy()
            data[f"{k}_gx{i}"] = gx.numpy()
        meta.append(dict(formula=formula, irreps=irreps, filter_ir_out=f_out, filter_ir_mid=f_mid,
                         irreps_in=[str(i) for i in tp.irreps_in], irreps_out=str(tp.irreps_out)))
    data["meta"] = np.array(json.dumps(meta))
    np.savez(os.path.join(out_dir, "reduce_io_rtp.npz"), **data)

    data = {}
    for k, (formula, irreps) in enumerate(BIG_CASES):
        tp = o3.ReducedTensorProducts(formula, **irreps)
        q = tp.change_of_basis.double().reshape(tp.irreps_out.dim, -1)
        r = torch.randn(q.shape[1], 3, generator=g, dtype=torch.float64)
        data[f"{k}_r"] = r.numpy()
        data[f"{k}_Qr"] = (q @ r).numpy()
        data[f"{k}_Qsq"] = (q ** 2).sum(1).numpy()
        data[f"{k}_irreps_out"] = np.array(str(tp.irreps_out))
    data["meta"] = np.array(json.dumps(BIG_CASES))
    np.savez(os.path.join(out_dir, "reduce_io_rtp_big.npz"), **data)

    data = {}
    for k, formula in enumerate(CART_FORMULAS):
        ct = io.CartesianTensor(formula)
        n = len(ct.indices)
        t = torch.randn(2, *([3] * n), generator=g, dtype=torch.float64)
        y = torch.randn(2, ct.dim, generator=g, dtype=torch.float64)
        vs = [torch.randn(2, 3, generator=g, dtype=torch.float64) for _ in range(n)]
        data[f"{k}_cart"] = t.numpy()
        data[f"{k}_from_cartesian"] = ct.from_cartesian(t).numpy()
        data[f"{k}_irreps"] = y.numpy()
        data[f"{k}_to_cartesian"] = ct.to_cartesian(y).numpy()
        for i, v in enumerate(vs):
            data[f"{k}_v{i}"] = v.numpy()
        data[f"{k}_from_vectors"] = ct.from_vectors(*vs).detach().numpy()
        data[f"{k}_irreps_str"] = np.array(str(o3.Irreps(ct)))
    data["formulas"] = np.array(json.dumps(CART_FORMULAS))
    np.savez(os.path.join(out_dir, "reduce_io_cartesian.npz"), **data)
