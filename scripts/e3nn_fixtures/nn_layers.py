"""Fixtures for the e3nn.nn layers: Activation, Gate, NormActivation, BatchNorm, FullyConnectedNet, Extract.

Each record stores the input, e3nn's output, and the gradients of ``sum(out * cot)`` (``cot`` a random
cotangent) with respect to the input and to every weight. Activations are named (``act_*`` strings) and the
tests map the names to MindSpore functions.
"""
import os

import numpy as np
import torch
from e3nn import o3
from e3nn.nn import Activation, BatchNorm, Extract, ExtractIr, FullyConnectedNet, Gate, NormActivation

ACTS = {"silu": torch.nn.functional.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "abs": torch.abs,
        "relu": torch.relu, "None": None}


def _acts(names):
    return [ACTS[n] for n in names]


def _grads(module, x, params, rng_seed):
    """Output, cotangent and grads of sum(out * cot) wrt x and the named parameters."""
    x = x.clone().requires_grad_(True)
    out = module(x)
    g = torch.Generator().manual_seed(rng_seed)
    cot = torch.randn(out.shape, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((out * cot).sum(), [x] + [p for _, p in params])
    rec = {"x": x.detach().numpy(), "out": out.detach().numpy(), "cot": cot.numpy(), "grad_x": grads[0].numpy()}
    for (name, _), gp in zip(params, grads[1:]):
        rec[f"grad_{name}"] = gp.numpy()
        rec[f"param_{name}"] = dict(params)[name].detach().numpy()
    return rec


def _save(out_dir, name, rec):
    np.savez(os.path.join(out_dir, f"{name}.npz"), **{k: np.asarray(v) for k, v in rec.items()})


ACTIVATION_CASES = [
    ("4x0e + 3x0o + 2x1o + 2x0o + 0e + 1x2e", ["silu", "tanh", "None", "abs", "sigmoid", "None"]),
    ("5x0o", ["tanh"]),
    ("3x0e + 2x0e", ["relu", "None"]),
]

GATE_CASES = [
    ("8x0e + 4x0o", ["silu", "tanh"], "4x0e + 2x0o", ["sigmoid", "tanh"], "2x1o + 1x2e + 1x1e + 2x0e"),
    ("16x0e", ["silu"], "8x0e", ["sigmoid"], "4x1o + 4x1e"),
    ("3x0o + 2x0e", ["abs", "tanh"], "2x0o + 0e", ["tanh", "silu"], "1x2o + 2x1e"),
    ("4x0e", ["silu"], "", [], ""),
]


def make(out_dir):
    torch.manual_seed(0)
    # Activation
    for k, (irreps, names) in enumerate(ACTIVATION_CASES):
        m = Activation(irreps, _acts(names))
        x = o3.Irreps(irreps).randn(6, -1)
        rec = _grads(m, x, [], 100 + k)
        rec.update(irreps_in=irreps, irreps_out=repr(m.irreps_out), acts=",".join(names))
        _save(out_dir, f"nn_layers_activation_{k}", rec)

    # Gate
    for k, (isc, asc, ig, ag, igd) in enumerate(GATE_CASES):
        m = Gate(isc, _acts(asc), ig, _acts(ag), igd)
        x = m.irreps_in.randn(5, -1)
        rec = _grads(m, x, [], 200 + k)
        rec.update(irreps_scalars=isc, act_scalars=",".join(asc), irreps_gates=ig, act_gates=",".join(ag),
                   irreps_gated=igd, irreps_in=repr(m.irreps_in), irreps_out=repr(m.irreps_out))
        _save(out_dir, f"nn_layers_gate_{k}", rec)

    # NormActivation
    norm_cases = [("2x0e + 3x1o + 2e", "sigmoid", True, None, True),
                  ("0e + 2x1o + 1e + 2o", "tanh", True, 0.5, False),
                  ("3x1e + 2x0o", "silu", True, None, False)]
    for k, (irreps, act, normalize, eps, bias) in enumerate(norm_cases):
        m = NormActivation(o3.Irreps(irreps), ACTS[act], normalize=normalize, epsilon=eps, bias=bias)
        params = []
        if bias:
            with torch.no_grad():
                m.biases.copy_(torch.randn(m.biases.shape))
            params = [("biases", m.biases)]
        x = o3.Irreps(irreps).randn(6, -1)
        x[0, :] *= 1e-2  # small norms: exercise the epsilon clamp
        rec = _grads(m, x, params, 300 + k)
        rec.update(irreps=irreps, act=act, epsilon=-1.0 if eps is None else eps, bias=bias)
        _save(out_dir, f"nn_layers_normact_{k}", rec)

    # BatchNorm: a few training steps then evaluation
    bn_cases = [dict(irreps="3x0e + 2x1o + 0o + 1x2e", momentum=0.3, normalization="component", reduce="mean"),
                dict(irreps="2x0e + 2x1e + 2x0e", momentum=0.1, normalization="norm", reduce="max"),
                dict(irreps="2x0e + 2x1o", momentum=0.1, normalization="component", reduce="mean", instance=True),
                dict(irreps="2x0e + 1x1o", momentum=0.2, normalization="component", reduce="mean", affine=False)]
    for k, case in enumerate(bn_cases):
        m = BatchNorm(**case)
        irreps = o3.Irreps(case["irreps"])
        params = []
        if m.affine:
            with torch.no_grad():
                m.weight.copy_(1.0 + 0.3 * torch.randn(m.weight.shape))
                m.bias.copy_(torch.randn(m.bias.shape))
            params = [("weight", m.weight), ("bias", m.bias)]
        rec = {k2: str(v) for k2, v in case.items()}
        m.train()
        for step in range(3):
            x = irreps.randn(4, 3, -1) * (1.0 + step) + 0.5
            r = _grads(m, x, params, 400 + 10 * k + step)
            for key, val in r.items():
                rec[f"train{step}_{key}"] = val
            if not m.instance:
                rec[f"train{step}_running_mean"] = m.running_mean.numpy().copy()
                rec[f"train{step}_running_var"] = m.running_var.numpy().copy()
        m.eval()
        x = irreps.randn(5, 2, -1) + 0.3
        r = _grads(m, x, params, 490 + k)
        for key, val in r.items():
            rec[f"eval_{key}"] = val
        _save(out_dir, f"nn_layers_batchnorm_{k}", rec)

    # FullyConnectedNet
    fc_cases = [dict(hs=[4, 6, 5, 3], act="silu"),
                dict(hs=[3, 7, 2], act="tanh", variance_in=2, variance_out=3, out_act=True),
                dict(hs=[5, 4], act="None"),
                dict(hs=[3, 8, 8, 1], act="silu", variance_in=3, variance_out=2)]
    for k, case in enumerate(fc_cases):
        kwargs = {key: val for key, val in case.items() if key not in ("hs", "act")}
        m = FullyConnectedNet(case["hs"], ACTS[case["act"]], **kwargs)
        params = [(name, p) for name, p in m.named_parameters()]
        x = torch.randn(7, case["hs"][0])
        rec = _grads(m, x, params, 500 + k)
        rec.update(hs=np.array(case["hs"]), act=case["act"], variance_in=kwargs.get("variance_in", 1),
                   variance_out=kwargs.get("variance_out", 1), out_act=kwargs.get("out_act", False),
                   param_names=",".join(name for name, _ in params))
        _save(out_dir, f"nn_layers_fc_{k}", rec)

    # Extract / ExtractIr
    irreps = o3.Irreps("2x0e + 1o + 3x0e + 2e + 1o")
    x = irreps.randn(3, -1)
    c = Extract(irreps, ["1o + 2x0e", "3x0e + 2e", "1o"], [(1, 0), (2, 3), (4,)])
    outs = c(x)
    e = ExtractIr(irreps, "1o")
    _save(out_dir, "nn_layers_extract", {"x": x.numpy(), "out0": outs[0].numpy(), "out1": outs[1].numpy(),
                                         "out2": outs[2].numpy(), "ir_out": e(x).numpy(),
                                         "ir_irreps_out": repr(e.irreps_out)})
