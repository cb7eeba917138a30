"""e3nn 0.6.0 reference values for the names added to close the API gap (issue 13).

Writes ``tests/data/api_*.npz``:

* ``api_su2``: ``su2_generators(j)`` for integer and half-integer ``j`` (real and imaginary parts);
* ``api_alpha_beta``: ``spherical_harmonics_alpha_beta`` (three normalisations, and an Irreps with
  multiplicities), ``spherical_harmonics_alpha``, ``Legendre`` values, and gradients of ``sum(out * cot)`` with
  respect to ``alpha`` and ``beta``;
* ``api_full_tp_v2``: ``FullTensorProductv2`` outputs and input gradients for a few cases;
* ``api_reduce``: ``germinate_formulas`` / ``reduce_permutation`` bases and chosen orbits.
"""
import json
import os

import numpy as np
import torch
from e3nn import o3
from e3nn.math import germinate_formulas, reduce_permutation
from e3nn.o3 import FullTensorProductv2

FULL_TP_CASES = [
    dict(irreps_in1="2x0e + 1o + 2e", irreps_in2="1o + 2x1e", kwargs={}),
    dict(irreps_in1="1o + 1e + 0e", irreps_in2="2e + 1o", kwargs=dict(filter_ir_out="0e + 1o + 2e")),
    dict(irreps_in1="3x1o", irreps_in2="0e + 1o", kwargs=dict(irrep_normalization="norm")),
    dict(irreps_in1="1o + 2e", irreps_in2="1e", kwargs=dict(regroup_output=False)),
]
REDUCE_CASES = [("ij=-ji", dict(i=3)), ("ijk=jki", dict(i=2)), ("ij=ji", dict(i=3)), ("ijkl=jikl=klij", dict(i=2))]


def _np(x):
    return x.detach().numpy()


def _su2(out_dir):
    rec = {}
    for j in (0.5, 1, 1.5, 2, 2.5):
        g = o3.su2_generators(j)
        rec[f"real_{j}"], rec[f"imag_{j}"] = _np(g.real), _np(g.imag)
    np.savez(os.path.join(out_dir, "api_su2.npz"), **rec)


def _alpha_beta(out_dir):
    gen = torch.Generator().manual_seed(0)
    alpha = (2 * torch.pi * torch.rand(4, 5, generator=gen)).requires_grad_(True)
    beta = (torch.pi * torch.rand(4, 5, generator=gen)).requires_grad_(True)
    rec = {"alpha": _np(alpha), "beta": _np(beta)}
    cases = {"integral": ([0, 1, 2, 3], "integral"), "component": ([0, 1, 2, 3], "component"),
             "norm": ([1, 3, 2], "norm"), "irreps": (o3.Irreps("2x0e + 1o + 2x2e"), "component")}
    for name, (ls, normalization) in cases.items():
        out = o3.spherical_harmonics_alpha_beta(ls, alpha, beta, normalization=normalization)
        cot = torch.randn(out.shape, generator=gen)
        grad_alpha, grad_beta = torch.autograd.grad((out * cot).sum(), [alpha, beta])
        rec.update({f"{name}_out": _np(out), f"{name}_cot": _np(cot), f"{name}_grad_alpha": _np(grad_alpha),
                    f"{name}_grad_beta": _np(grad_beta)})
    rec["alpha_3"] = _np(o3.spherical_harmonics_alpha(3, alpha))
    z, y = torch.cos(beta), torch.sin(beta)
    rec["legendre"] = _np(o3.Legendre([0, 1, 2, 3, 4, 6])(z, y))
    np.savez(os.path.join(out_dir, "api_alpha_beta.npz"), **rec)


def _full_tp_v2(out_dir):
    gen = torch.Generator().manual_seed(1)
    rec = {"cases": json.dumps(FULL_TP_CASES)}
    for k, case in enumerate(FULL_TP_CASES):
        kwargs = dict(case["kwargs"])
        if "filter_ir_out" in kwargs:  # e3nn compares with `in`: an Irreps (a list of strings keeps nothing)
            kwargs["filter_ir_out"] = o3.Irreps(kwargs["filter_ir_out"])
        tp = FullTensorProductv2(o3.Irreps(case["irreps_in1"]), o3.Irreps(case["irreps_in2"]), **kwargs)
        x1 = torch.randn(3, 1, tp.irreps_in1.dim, generator=gen).requires_grad_(True)
        x2 = torch.randn(1, 2, tp.irreps_in2.dim, generator=gen).requires_grad_(True)
        out = tp(x1, x2)
        cot = torch.randn(out.shape, generator=gen)
        g1, g2 = torch.autograd.grad((out * cot).sum(), [x1, x2])
        rec.update({f"{k}_x1": _np(x1), f"{k}_x2": _np(x2), f"{k}_out": _np(out), f"{k}_cot": _np(cot),
                    f"{k}_grad_x1": _np(g1), f"{k}_grad_x2": _np(g2), f"{k}_irreps_out": repr(tp.irreps_out)})
    np.savez(os.path.join(out_dir, "api_full_tp_v2.npz"), **rec)


def _reduce(out_dir):
    rec = {"cases": json.dumps(REDUCE_CASES)}
    for k, (formula, dims) in enumerate(REDUCE_CASES):
        f0, formulas = germinate_formulas(formula)
        q, ret = reduce_permutation(f0, formulas, **dims)
        rec[f"{k}_f0"] = f0
        rec[f"{k}_formulas"] = json.dumps(sorted([s, list(p)] for s, p in formulas))
        rec[f"{k}_q"] = _np(q)
        rec[f"{k}_ret"] = json.dumps([[[s, list(e)] for s, e in x] for x in ret])
    np.savez(os.path.join(out_dir, "api_reduce.npz"), **rec)


def make(out_dir):
    _su2(out_dir)
    _alpha_beta(out_dir)
    _full_tp_v2(out_dir)
    _reduce(out_dir)
