"""Fixtures of e3nn.o3.spherical_harmonics (l = 0..11): values for the three normalizations with normalize
True/False, input gradients d sum(Y * W)/dx, subsets and Irreps requests, and the zero / tiny vector rows.
Writes tests/data/spherical_harmonics*.npz."""
import os

import numpy as np
import torch
from e3nn import o3

LMAX = 11


def _rows(gen):
    x = torch.randn(10, 3, generator=gen)
    x[:5] = x[:5] / x[:5].norm(dim=-1, keepdim=True) * torch.rand(5, 1, generator=gen) * 2.0 + 0.3 * x[:5] * 0
    special = torch.tensor([
        [0.0, 0.0, 0.0],          # padded edge: zero vector
        [0.0, 1.0, 0.0],          # e3nn's polar axis
        [0.0, -2.0, 0.0],
        [1.0, 0.0, 0.0],
        [3e-13, -4e-13, 1e-13],   # |x| < 1e-12: e3nn divides by 1e-12
        [0.0, 0.0, 0.0],
    ])
    return torch.cat([x, special])


def _sh(ls, x, normalize, normalization):
    return o3.spherical_harmonics(ls, x, normalize, normalization=normalization)


def make(out_dir):
    gen = torch.Generator().manual_seed(0)
    x = _rows(gen)
    out = {"x": x.numpy(), "lmax": np.array(LMAX)}
    ls = list(range(LMAX + 1))
    w = torch.randn(len(x), (LMAX + 1) ** 2, generator=gen)
    out["w"] = w.numpy()
    for normalize in (True, False):
        for norm in ("integral", "component", "norm"):
            key = f"{'unit' if normalize else 'raw'}_{norm}"
            xr = x.clone().requires_grad_(True)
            y = _sh(ls, xr, normalize, norm)
            (g,) = torch.autograd.grad((y * w).sum(), xr)
            out[f"{key}_y"], out[f"{key}_grad"] = y.detach().numpy(), g.numpy()
    np.savez(os.path.join(out_dir, "spherical_harmonics.npz"), **out)

    sub = {"x": x[:12].numpy()}
    cases = [([2, 0, 3, 3], True, "component"), ([5], False, "norm"), ("1e + 2e + 3e", True, "integral"),
             ("0e + 1o + 2e", False, "component"), (4, True, "integral")]
    for i, (l, normalize, norm) in enumerate(cases):
        xr = x[:12].clone().requires_grad_(True)
        module = o3.SphericalHarmonics(l, normalize, norm)
        y = module(xr)
        wi = torch.randn(*y.shape, generator=gen)
        (g,) = torch.autograd.grad((y * wi).sum(), xr)
        sub[f"case{i}_y"], sub[f"case{i}_w"], sub[f"case{i}_grad"] = y.detach().numpy(), wi.numpy(), g.numpy()
        sub[f"case{i}_irreps_out"] = np.array(str(module.irreps_out))
        sub[f"case{i}_irreps_in"] = np.array(str(module.irreps_in))
    np.savez(os.path.join(out_dir, "spherical_harmonics_subsets.npz"), **sub)
