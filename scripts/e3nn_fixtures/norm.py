"""e3nn 0.6.0 reference values for ``o3.Norm``: norms and squared norms, and their input gradients.

Writes ``tests/data/norm.npz``: for ``IRREPS`` (with blocks to merge by ``simplify``), an input ``x`` with some
irreps exactly zero (e3nn's gradient there is 0), ``out``/``out_sq`` (norm / squared norm), a cotangent ``ct``
and the gradients of ``sum(out * ct)``: ``grad_x`` and ``grad_x_sq``.
"""
import os

import numpy as np
import torch
from e3nn import o3

IRREPS = "2x0e+1x0e+3x1o+2x2e+1x3o"


def _np(x):
    return x.detach().to(torch.float64).numpy()


def make(out_dir):
    torch.manual_seed(0)
    norm = o3.Norm(IRREPS)
    norm_sq = o3.Norm(IRREPS, squared=True)
    x = torch.randn(2, 3, norm.irreps_in.dim)
    x[0, 0, :] = 0.0  # a sample of zeros
    x[1, 2, 3:6] = 0.0  # one zero vector
    x[1, 1, 0] = 0.0  # one zero scalar
    x.requires_grad_(True)
    out = norm(x)
    out_sq = norm_sq(x)
    ct = torch.randn(out.shape)
    (grad_x,) = torch.autograd.grad((out * ct).sum(), [x])
    (grad_x_sq,) = torch.autograd.grad((out_sq * ct).sum(), [x])
    np.savez(
        os.path.join(out_dir, "norm.npz"),
        irreps=np.array(IRREPS), irreps_out=np.array(str(norm.irreps_out)),
        x=_np(x), out=_np(out), out_sq=_np(out_sq), ct=_np(ct), grad_x=_np(grad_x), grad_x_sq=_np(grad_x_sq),
    )
