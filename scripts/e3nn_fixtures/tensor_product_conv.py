"""e3nn 0.6.0 reference values for ``o3.TensorProductConv``: e3nn's convolution written the way its models write it.

Writes ``tests/data/tensor_product_conv.npz``: for each case ``c<i>``, a JSON ``spec`` (irreps, instructions,
scale), node features ``x``, edge attributes ``a``, per-edge weights ``w``, ``src``/``dst``, the output
``out = scatter(TensorProduct(..., shared_weights=False)(x[src], a, w), dst) * scale`` and the gradients of
``sum(out * cot)`` w.r.t. ``x``, ``a`` and ``w``. Cases: NequIP's ``uvu`` convolution (l_max 2, both parities)
and a ``FullyConnectedTensorProduct`` convolution with mixed multiplicities (e3nn's ``gate_points`` style).
"""
import json
import os

import numpy as np
import torch
from e3nn import o3


def _uvu(irreps_in, irreps_sh, irreps_hidden):
    irreps_in, irreps_sh, irreps_hidden = o3.Irreps(irreps_in), o3.Irreps(irreps_sh), o3.Irreps(irreps_hidden)
    mid, ins = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in irreps_hidden:
                    ins.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    mid, perm, _ = o3.Irreps(mid).sort()
    return str(irreps_in), str(irreps_sh), str(mid), [[a, b, perm[c], m, t] for a, b, c, m, t in ins]


def _uvw(irreps_in, irreps_sh, irreps_out):
    i1, i2, io = o3.Irreps(irreps_in), o3.Irreps(irreps_sh), o3.Irreps(irreps_out)
    ins = [[a, b, c, "uvw", True] for a, (_, r1) in enumerate(i1) for b, (_, r2) in enumerate(i2)
           for c, (_, ro) in enumerate(io) if ro in r1 * r2]
    return str(i1), str(i2), str(io), ins


def _cases():
    hidden = "3x0e + 3x0o + 3x1o + 3x1e + 3x2e + 3x2o"
    return [
        (_uvu("3x0e + 3x1o + 3x2e", "0e + 1o + 2e", hidden), 0.5),
        (_uvw("3x0e + 2x1o + 2x2e", "0e + 1o + 2e", "2x0e + 3x1o + 2x1e + 1x2e"), 1.0),
    ]


def _np(t):
    return t.detach().to(torch.float64).numpy()


def make(out_dir):
    torch.manual_seed(0)
    data = {}
    num_nodes, num_edges = 5, 12
    for i, ((a, b, c, ins), scale) in enumerate(_cases()):
        tp = o3.TensorProduct(a, b, c, [tuple(x) for x in ins], shared_weights=False, internal_weights=False)
        x = tp.irreps_in1.randn(num_nodes, -1).requires_grad_(True)
        attr = tp.irreps_in2.randn(num_edges, -1).requires_grad_(True)
        w = torch.randn(num_edges, tp.weight_numel).requires_grad_(True)
        src = torch.randint(0, num_nodes, (num_edges,))
        dst = torch.randint(0, num_nodes, (num_edges,))
        msg = tp(x[src], attr, w)
        out = torch.zeros(num_nodes, tp.irreps_out.dim).index_add(0, dst, msg) * scale
        cot = torch.randn_like(out)
        gx, ga, gw = torch.autograd.grad((out * cot).sum(), [x, attr, w])
        p = f"c{i}_"
        data[p + "spec"] = np.array(json.dumps({"args": [a, b, c, ins], "scale": scale}))
        for name, t in (("x", x), ("a", attr), ("w", w), ("out", out), ("cot", cot), ("grad_x", gx),
                        ("grad_a", ga), ("grad_w", gw)):
            data[p + name] = _np(t)
        data[p + "src"] = src.numpy().astype(np.int32)
        data[p + "dst"] = dst.numpy().astype(np.int32)
    data["num_cases"] = np.array(len(_cases()))
    np.savez_compressed(os.path.join(out_dir, "tensor_product_conv.npz"), **data)
