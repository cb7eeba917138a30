"""W1-W4 on e3nn 0.6.0 / PyTorch, eager or ``torch.compile`` (run by a Python with torch and e3nn).

``torch.compile`` runs with inductor's caches off (``TORCHINDUCTOR_FORCE_DISABLE_CACHES=1``, set by the driver)
so that its first call is a cold compile every time, as ours is (no MindSpore compile cache).

    python scripts/peers/e3nn_torch.py --workload W2 --size 20000 --mode compile --runs 7 --warmup 2

Prints one JSON line: build, first-call (for ``compile``: the compile) and median seconds of the forward and of
the forward+backward (``workloads.py`` defines both). One thread (``torch.set_num_threads(1)``), float32.
``--dump FILE`` instead writes a small seeded case (inputs, weights, outputs and spherical harmonics of random
vectors) to an npz for the e3nn-jax equivalence check (``e3nn_jax_peer.py --check``).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import (IRREPS_NODE, IRREPS_W3_IN2, IRREPS_W4, SH_LS, median_time,  # noqa: E402
                       nequip_conv_irreps)


def build(name, n, seed=0):
    """(forward callable, list of input tensors, list of weight tensors) of workload ``name``."""
    import torch
    from e3nn import o3

    torch.manual_seed(seed)
    if name == "W1":
        def forward(x):
            return o3.spherical_harmonics(list(SH_LS), x, normalize=True, normalization="component")

        return forward, [torch.randn(n, 3)], []
    if name == "W2":
        i1, i2, io, ins = nequip_conv_irreps(o3)
        module = o3.TensorProduct(i1, i2, io, ins, shared_weights=False, internal_weights=False)
        return module, [torch.randn(n, i1.dim), torch.randn(n, i2.dim), torch.randn(n, module.weight_numel)], []
    if name == "W3":
        module = o3.FullyConnectedTensorProduct(IRREPS_NODE, IRREPS_W3_IN2, IRREPS_NODE)
        return module, [torch.randn(n, module.irreps_in1.dim), torch.randn(n, module.irreps_in2.dim)], \
            list(module.parameters())
    if name == "W4":
        module = o3.Linear(IRREPS_W4, IRREPS_W4)
        return module, [torch.randn(n, module.irreps_in.dim)], list(module.parameters())
    raise ValueError(name)


def run(name, n, mode, runs, warmup):
    import time

    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    forward, inputs, params = build(name, n)
    with torch.no_grad():  # the cotangent's shape from the plain module: no compile outside the timed calls
        ct = torch.randn(forward(*inputs).shape)
    if mode == "compile":
        forward = torch.compile(forward)
    build_s = time.perf_counter() - t0
    leaves = [x.requires_grad_(True) for x in inputs]

    def fwd():
        with torch.no_grad():
            return forward(*inputs)

    def fwd_bwd():
        return torch.autograd.grad(forward(*leaves), leaves + params, grad_outputs=ct)

    first_f, med_f, _ = median_time(fwd, runs, warmup)
    first_b, med_b, _ = median_time(fwd_bwd, runs, warmup)
    return dict(build=build_s, first_fwd=first_f, fwd=med_f, first_fwd_bwd=first_b, fwd_bwd=med_b,
                version=f"e3nn {__import__('e3nn').__version__}, torch {torch.__version__}")


def dump(path, n=4, seed=1):
    """A small seeded float64 case of W2-W4 and spherical harmonics, for the e3nn-jax equivalence check."""
    import numpy as np
    import torch
    from e3nn import o3

    torch.set_default_dtype(torch.float64)
    out = {}
    vec = torch.randn(64, 3, generator=torch.Generator().manual_seed(seed))
    for l in SH_LS:
        out[f"sh{l}_vec"] = vec.numpy()
        out[f"sh{l}"] = o3.spherical_harmonics(l, vec, normalize=True, normalization="component").numpy()
    for name in ("W2", "W3", "W4"):
        module, inputs, _ = build(name, n, seed)
        for i, x in enumerate(inputs):
            out[f"{name}_in{i}"] = x.detach().numpy()
        if name != "W2":
            out[f"{name}_weight"] = module.weight.detach().numpy()
        with torch.no_grad():
            out[f"{name}_out"] = module(*inputs).numpy()
        if name == "W2":  # the output columns of each instruction (e3nn and e3nn-jax sort irreps differently)
            out["W2_path_slices"] = np.array([[module.irreps_out.slices()[ins.i_out].start,
                                               module.irreps_out.slices()[ins.i_out].stop]
                                              for ins in module.instructions])
    np.savez(path, **out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default="W1")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--mode", choices=["eager", "compile"], default="eager")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--dump", metavar="NPZ")
    args = parser.parse_args()
    if args.dump:
        dump(args.dump)
        print(json.dumps({"dumped": args.dump}))
        return
    print(json.dumps(run(args.workload, args.size, args.mode, args.runs, args.warmup)))


if __name__ == "__main__":
    main()
