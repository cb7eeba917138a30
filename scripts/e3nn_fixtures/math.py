"""Fixtures of e3nn.math: soft_one_hot_linspace (5 bases x cutoff), soft_unit_step, bessel, normalize2mom
constants, orthonormalize / complete_basis. Writes tests/data/math_*.npz."""
import math
import os

import numpy as np
import torch
from e3nn import math as e3math

BASES = ("gaussian", "cosine", "smooth_finite", "fourier", "bessel")
START, END, NUMBER = -0.5, 1.5, 6


def _value_and_grad(fn, x, weight):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    (g,) = torch.autograd.grad((y * weight).sum(), x)
    return y.detach().numpy(), g.numpy()


def make(out_dir):
    gen = torch.Generator().manual_seed(0)
    # points inside, at and beyond the ends; avoid x == START exactly (e3nn's bessel is 0/0 there)
    x = torch.cat([torch.linspace(-1.0, 2.0, 37)[1:], torch.rand(24, generator=gen) * 2.5 - 0.75])
    x = x[(x - START).abs() > 1e-9]
    out = {"x": x.numpy(), "start": np.array(START), "end": np.array(END), "number": np.array(NUMBER)}
    for basis in BASES:
        for cutoff in (False, True):
            w = torch.randn(len(x), NUMBER, generator=gen)
            y, g = _value_and_grad(lambda t: e3math.soft_one_hot_linspace(t, START, END, NUMBER, basis, cutoff), x, w)
            key = f"{basis}_{'cut' if cutoff else 'nocut'}"
            out[f"{key}_w"], out[f"{key}_y"], out[f"{key}_grad"] = w.numpy(), y, g
    np.savez(os.path.join(out_dir, "math_soft_one_hot_linspace.npz"), **out)

    xs = torch.cat([torch.tensor([-2.0, -1e-3, 0.0, 1e-4, 2e-3, 0.01, 0.1]), torch.linspace(0.2, 5.0, 25)])
    w = torch.randn(len(xs), generator=gen)
    y, g = _value_and_grad(e3math.soft_unit_step, xs, w)
    np.savez(os.path.join(out_dir, "math_soft_unit_step.npz"), x=xs.numpy(), w=w.numpy(), y=y, grad=g)

    xb = torch.cat([torch.tensor([0.0]), torch.rand(15, generator=gen) * 3.0])
    wb = torch.randn(len(xb), 5, generator=gen)
    yb, gb = _value_and_grad(lambda t: e3math.bessel(t, 5, 2.5), xb, wb)
    np.savez(os.path.join(out_dir, "math_bessel.npz"), x=xb.numpy(), w=wb.numpy(), y=yb, grad=gb,
             n=np.array(5), x_max=np.array(2.5))

    acts = {
        "identity": lambda t: t,
        "silu": torch.nn.functional.silu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "abs": torch.abs,
        "relu": torch.relu,
        "ssp": lambda t: torch.nn.functional.softplus(t) - math.log(2.0),
        "sin": torch.sin,
    }
    csts = {f"cst_{k}": np.array(e3math.normalize2mom(f).cst) for k, f in acts.items()}
    mom = {f"moment4_{k}": e3math.moment(f, 4, dtype=torch.float64).numpy() for k, f in acts.items()}
    gen_r = torch.Generator().manual_seed(0)
    z16 = torch.randn(4096, generator=gen_r, dtype=torch.float64).numpy()
    np.savez(os.path.join(out_dir, "math_normalize2mom.npz"), names=np.array(list(acts)), randn_4096=z16, **csts,
             **mom)

    a = torch.randn(4, 6, generator=gen)
    a = torch.cat([a, a[:1] + 2 * a[1:2]])  # a dependent row
    final, matrix = e3math.orthonormalize(a)
    basis = e3math.complete_basis(final[:2])
    blocks = [torch.randn(2, 1, 2, generator=gen), torch.randn(2, 3, 2, generator=gen)]
    np.savez(os.path.join(out_dir, "math_linalg.npz"), a=a.numpy(), final=final.numpy(), matrix=matrix.numpy(),
             complete_in=final[:2].numpy(), complete_out=basis.numpy(), ds_a=blocks[0].numpy(),
             ds_b=blocks[1].numpy(), ds_out=e3math.direct_sum(*blocks).numpy())
