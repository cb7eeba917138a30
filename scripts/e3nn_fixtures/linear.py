"""e3nn 0.6.0 reference values for ``o3.Linear``: outputs and gradients w.r.t. input, weight and bias.

Writes ``tests/data/linear_<i>.npz``, one per case of ``CASES``. Each file holds the case's constructor
arguments as a JSON string (``config``), the input ``x``, the flat ``weight`` (e3nn layout), the ``bias`` (empty
when there is none), the output ``out``, a random cotangent ``ct`` and the gradients of ``sum(out * ct)``:
``grad_x``, ``grad_weight``, ``grad_bias``.
"""
import json
import os

import numpy as np
import torch
from e3nn import o3

CASES = [
    # default instructions, every irrep present on both sides
    dict(irreps_in="4x0e+3x1o+2x2e", irreps_out="2x0e+3x1o+2x2e", batch=[5]),
    # two scalar input blocks, an output irrep (2e) missing from the input, biases on every scalar output
    dict(irreps_in="2x0e+1x1o+3x0e", irreps_out="3x0e+2x2e+1x1o+1x0e", batch=[2, 3], biases=True),
    # explicit instructions, a bias list, path normalisation, an input irrep (1o) unused
    dict(irreps_in="5x0e+2x1e+3x1o", irreps_out="4x0e+2x1e+2x0e", batch=[4],
         instructions=[[0, 0], [1, 1], [0, 2]], biases=[False, False, True], path_normalization="path"),
    # channels
    dict(irreps_in="3x0e+2x1o", irreps_out="2x0e+3x1o", batch=[3], f_in=2, f_out=3),
    # per-sample weights over two leading axes
    dict(irreps_in="3x0e+2x1o+2x0e", irreps_out="2x0e+3x1o+1x2e", batch=[2, 3], shared_weights=False),
    # per-sample weights with channels
    dict(irreps_in="2x0e+1x1o", irreps_out="1x0e+2x1o", batch=[4], f_in=2, f_out=2, shared_weights=False),
    # external shared weights and bias
    dict(irreps_in="3x0e+1x2e", irreps_out="2x0e+1x2e", batch=[3], internal_weights=False, biases=True),
    # channels and biases
    dict(irreps_in="3x0e+2x1o", irreps_out="2x0e+3x1o+1x0e", batch=[2], f_in=2, f_out=3, biases=True),
]

_CTOR_KEYS = ("f_in", "f_out", "internal_weights", "shared_weights", "instructions", "biases", "path_normalization")


def _np(x):
    return x.detach().to(torch.float64).numpy()


def _case(cfg):
    kwargs = {k: cfg[k] for k in _CTOR_KEYS if k in cfg}
    if "instructions" in kwargs:
        kwargs["instructions"] = [tuple(i) for i in kwargs["instructions"]]
    lin = o3.Linear(cfg["irreps_in"], cfg["irreps_out"], **kwargs)
    batch = tuple(cfg["batch"])
    chan_in = (cfg["f_in"],) if "f_in" in cfg else ()
    chan_w = (cfg["f_in"], cfg["f_out"]) if "f_in" in cfg else ()
    x = torch.randn(batch + chan_in + (lin.irreps_in.dim,), requires_grad=True)
    external = not lin.internal_weights
    if external:
        wbatch = batch if not lin.shared_weights else ()
        weight = torch.randn(wbatch + chan_w + (lin.weight_numel,), requires_grad=True)
        bias = torch.randn(lin.bias.shape if lin.bias.numel() else (lin.bias_numel,), requires_grad=True)
        if lin.bias_numel == 0:
            bias = torch.zeros(0, requires_grad=True)
        out = lin(x, weight, bias if lin.bias_numel else None)
    else:
        weight = lin.weight
        bias = lin.bias
        if lin.bias_numel:
            with torch.no_grad():
                bias.normal_()
        out = lin(x)
    ct = torch.randn(out.shape)
    params = [x, weight] + ([bias] if lin.bias_numel else [])
    grads = torch.autograd.grad((out * ct).sum(), params)
    return dict(
        config=np.array(json.dumps(cfg)),
        x=_np(x), weight=_np(weight), bias=_np(bias) if lin.bias_numel else np.zeros(0),
        out=_np(out), ct=_np(ct), grad_x=_np(grads[0]), grad_weight=_np(grads[1]),
        grad_bias=_np(grads[2]) if lin.bias_numel else np.zeros(0),
        weight_numel=np.array(lin.weight_numel), bias_numel=np.array(lin.bias_numel),
        path_weights=np.array([ins.path_weight for ins in lin.instructions]),
    )


def make(out_dir):
    for i, cfg in enumerate(CASES):
        torch.manual_seed(i)
        np.savez(os.path.join(out_dir, f"linear_{i}.npz"), **_case(cfg))
