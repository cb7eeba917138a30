"""e3nn 0.6.0 reference values for ``o3.TensorProduct`` and its subclasses.

Writes ``tests/data/tensor_product.npz``: for each case ``c<i>``, a JSON ``spec`` (class, args, kwargs),
inputs ``x1, x2``, weights ``w`` (``None`` -> absent), output ``out``, the normalised ``path_weight`` of every
instruction, and the gradients of ``sum(out * cot)`` w.r.t. ``x1``, ``x2`` and ``w``.
Small irreps keep the file well under 200 kB.
"""
import json
import os

import numpy as np
import torch
from e3nn import o3

A = "2x0e + 2x1o + 1x2e"
B = "1x0e + 1x1o + 2x1e"


def _modes_instr(irreps_in1, irreps_in2, irreps_out, mode, weight=True):
    i1, i2, io = o3.Irreps(irreps_in1), o3.Irreps(irreps_in2), o3.Irreps(irreps_out)
    out = []
    for a, (m1, r1) in enumerate(i1):
        for b, (m2, r2) in enumerate(i2):
            for c, (mo, ro) in enumerate(io):
                if ro not in r1 * r2:
                    continue
                ok = {"uvw": True, "uvu": m1 == mo, "uvv": m2 == mo, "uuw": m1 == m2, "uuu": m1 == m2 == mo,
                      "uvuv": m1 * m2 == mo, "uvu<v": m1 == m2 and m1 * (m1 - 1) // 2 == mo, "u<vw": m1 == m2}[mode]
                if ok:
                    out.append([a, b, c, mode, weight or mode in ("uvw", "u<vw")])
    return out


def _cases():
    cases = []
    tp = "TensorProduct"
    # every connection mode, internal (shared) and per-sample weights, weighted and not
    mode_irreps = {
        "uvw": ("2x0e + 2x1o", "2x0e + 1x1o", "2x0e + 3x1o + 1x1e"),
        "uvu": ("2x0e + 2x1o + 2x2e", "0e + 1o + 2e", "2x0e + 2x1o + 2x2e + 2x1e"),
        "uvv": ("2x0e + 2x1o", "3x0e + 3x1o", "3x0e + 3x1o + 3x1e"),
        "uuw": ("2x0e + 2x1o", "2x0e + 2x1o", "3x0e + 2x1o + 1x1e"),
        "uuu": ("2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o + 2x1e"),
        "uvuv": ("2x0e + 1x1o", "2x0e + 2x1o", "4x0e + 4x1o + 2x1e"),
        "uvu<v": ("3x0e + 3x1o", "3x0e + 3x1o", "3x0e + 3x1o + 3x1e"),
        "u<vw": ("3x0e + 3x1o", "3x0e + 3x1o", "2x0e + 2x1o + 2x1e"),
    }
    for mode, (a, b, c) in mode_irreps.items():
        for shared in (True, False):
            cases.append((tp, [a, b, c, _modes_instr(a, b, c, mode)], {"shared_weights": shared}))
        if mode not in ("uvw", "u<vw", "uuw"):
            cases.append((tp, [a, b, c, _modes_instr(a, b, c, mode, weight=False)], {}))
    # uvu with multiplicity-2 second input (sum over v), per-sample
    cases.append((tp, ["2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o + 2x1e",
                       _modes_instr("2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o + 2x1e", "uvu")],
                  {"shared_weights": False}))
    # uuw without weights (sum over u into mul 1)
    cases.append((tp, ["2x0e + 2x1o", "2x0e + 2x1o", "0e + 1o + 1e",
                       _modes_instr("2x0e + 2x1o", "2x0e + 2x1o", "0e + 1o + 1e", "uuw", weight=False)], {}))
    # normalisations, variances, explicit path weights
    uvw = _modes_instr(A, "0e + 1o + 2e", A, "uvw")
    for irn in ("component", "norm", "none"):
        for pn in ("element", "path", "none"):
            cases.append((tp, [A, "0e + 1o + 2e", A, uvw], {"irrep_normalization": irn, "path_normalization": pn}))
    cases.append((tp, [A, "0e + 1o + 2e", A, [ins + [0.5 + i] for i, ins in enumerate(uvw)]],
                  {"in1_var": [1.0, 2.0, 0.5], "in2_var": [0.3, 1.0, 2.0], "out_var": [1.5, 1.0, 0.7]}))
    cases.append((tp, [A, "0e + 1o + 2e", A, _modes_instr(A, "0e + 1o + 2e", A, "uvu")],
                  {"irrep_normalization": "norm", "path_normalization": "path", "shared_weights": False}))
    # subclasses
    fc = "FullyConnectedTensorProduct"
    cases.append((fc, [A, B, "3x0e + 2x1o + 1x1e + 1x2e"], {}))
    cases.append((fc, [A, B, "3x0e + 2x1o + 1x1e"], {"shared_weights": False, "irrep_normalization": "norm"}))
    cases.append((fc, ["2x0e + 2x1o + 1x2e", "0e + 1o + 2e", "2x0e + 2x1o + 1x2e"], {"path_normalization": "path"}))
    cases.append(("FullTensorProduct", [A, B], {}))
    cases.append(("FullTensorProduct", [A, B], {"filter_ir_out": ["0e", "1o", "2e"], "irrep_normalization": "norm"}))
    cases.append(("ElementwiseTensorProduct", ["3x0e + 2x1o", "2x1e + 3x1o"], {}))
    cases.append(("ElementwiseTensorProduct", ["3x0e + 2x1o", "2x1e + 3x1o"], {"filter_ir_out": ["1e", "0o"]}))
    cases.append(("TensorSquare", ["3x0e + 2x1o + 1x2e"], {}))
    cases.append(("TensorSquare", ["3x0e + 2x1o + 1x2e"], {"irrep_normalization": "norm", "filter_ir_out": ["0e", "2e"]}))
    cases.append(("TensorSquare", ["2x0e + 3x1o", "2x0e + 2x1o + 1x2e"], {}))
    cases.append(("TensorSquare", ["2x0e + 3x1o", "2x0e + 1x1e"], {"irrep_normalization": "norm"}))
    # NequIP's convolution product (benchmark W2's shape, small): every path its own output irrep, outputs sorted,
    # per-sample weights -- our plan takes its results to e3nn's layout by one transpose per block of paths
    mid, nequip = [], []
    for i, (_, ir_in) in enumerate(o3.Irreps("2x0e + 2x1o + 2x2e")):
        for j, (_, ir_edge) in enumerate(o3.Irreps("0e + 1o + 2e + 3o")):
            for ir_out in ir_in * ir_edge:
                if ir_out.l <= 3:
                    nequip.append([i, j, len(mid), "uvu", True])
                    mid.append((2, ir_out))
    mid, perm, _ = o3.Irreps(mid).sort()
    cases.append((tp, ["2x0e + 2x1o + 2x2e", "0e + 1o + 2e + 3o", str(mid),
                       [[a, b, perm[c], mode, w] for a, b, c, mode, w in nequip]], {"shared_weights": False}))
    return cases


def _np(t):
    return t.detach().to(torch.float64).numpy()


def make(out_dir):
    torch.manual_seed(0)
    data = {}
    for i, (cls, args, kwargs) in enumerate(_cases()):
        kw = dict(kwargs)
        if cls == "TensorProduct":
            args_t = args[:3] + [[tuple(x) for x in args[3]]]
        else:
            args_t = list(args)
        m = getattr(o3, cls)(*args_t, **kw)
        batch = 2
        x1 = m.irreps_in1.randn(batch, -1).requires_grad_(True)
        x2 = m.irreps_in2.randn(batch, -1).requires_grad_(True)
        w = None
        if m.weight_numel > 0:
            if m.shared_weights:
                w = torch.randn(m.weight_numel)
            else:
                w = torch.randn(batch, m.weight_numel)
            w.requires_grad_(True)
        if cls == "TensorSquare":
            out = m(x1, w) if w is not None else m(x1)
        else:
            out = m(x1, x2, w) if w is not None else m(x1, x2)
        cot = torch.randn_like(out)
        inputs = [x1] + ([x2] if cls != "TensorSquare" else []) + ([w] if w is not None else [])
        grads = torch.autograd.grad((out * cot).sum(), inputs, allow_unused=True)
        p = f"c{i}_"
        data[p + "spec"] = np.array(json.dumps({"cls": cls, "args": args, "kwargs": kwargs}))
        data[p + "irreps_out"] = np.array(str(m.irreps_out))
        data[p + "path_weight"] = np.array([ins.path_weight for ins in m.instructions], dtype=np.float64)
        data[p + "x1"] = _np(x1)
        data[p + "out"] = _np(out)
        data[p + "cot"] = _np(cot)
        data[p + "grad_x1"] = _np(grads[0])
        if cls != "TensorSquare":
            data[p + "x2"] = _np(x2)
            data[p + "grad_x2"] = _np(grads[1])
        if w is not None:
            data[p + "w"] = _np(w)
            data[p + "grad_w"] = _np(grads[-1])
    data["num_cases"] = np.array(len(_cases()))
    np.savez_compressed(os.path.join(out_dir, "tensor_product.npz"), **data)
