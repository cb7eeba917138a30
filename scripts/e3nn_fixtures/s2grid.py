"""Fixtures for the sphere / SO(3) grids, SphericalTensor, S2Activation and SO3Activation (e3nn 0.6.0, float64).

Files: ``s2grid_grids.npz`` (grid, quadrature, Legendre/alpha tables, rfft/irfft, ToS2Grid/FromS2Grid buffers,
outputs and input gradients), ``s2grid_so3.npz`` (SO3Grid), ``s2grid_spherical_tensor.npz``,
``s2grid_act.npz`` (S2Activation / SO3Activation outputs and input gradients).
"""
import os

import numpy as np
import torch
from e3nn import io, nn, o3
from e3nn.o3._s2grid import _quadrature_weights

TO_CASES = [  # (lmax, res, normalization)
    (3, (8, 9), "component"),
    (3, (8, 9), "norm"),
    (3, (8, 9), "integral"),
    (2, (6, 4), "component"),  # even res_alpha: no FFT path in e3nn
    (4, None, "component"),
    (None, 10, "integral"),
]
FROM_CASES = [  # (res, lmax, normalization, lmax_in)
    ((8, 9), 3, "component", None),
    ((8, 9), 3, "norm", 2),
    ((8, 9), 3, "integral", None),
    ((6, 4), 2, "component", None),
    (10, None, "component", None),
]


def _grad(out, inp, g):
    w = torch.randn(out.shape, generator=g, dtype=torch.float64)
    (gx,) = torch.autograd.grad((out * w).sum(), inp)
    return w.numpy(), gx.numpy()


def make(out_dir):
    g = torch.Generator().manual_seed(2)
    d = {}
    b, a = o3.s2_grid(6, 7)
    d["s2_grid_betas"], d["s2_grid_alphas"] = b.numpy(), a.numpy()
    _, _, shb, sha = o3.spherical_harmonics_s2_grid(3, 8, 7)
    d["sh_grid_shb"], d["sh_grid_sha"] = shb.numpy(), sha.numpy()
    d["qw4"] = _quadrature_weights(4).numpy()
    x = torch.randn(2, 11, generator=g)
    d["rfft_x"], d["rfft_out"] = x.numpy(), o3.rfft(x, 4).numpy()
    y = torch.randn(2, 7, generator=g)
    d["irfft_x"], d["irfft_out"] = y.numpy(), o3.irfft(y, 11).numpy()
    for k, (lmax, res, norm) in enumerate(TO_CASES):
        m = o3.ToS2Grid(lmax, res, normalization=norm)
        x = torch.randn(2, (m.lmax + 1) ** 2, generator=g, requires_grad=True)
        out = m(x)
        d[f"to{k}_res"] = np.array([m.lmax, m.res_beta, m.res_alpha])
        d[f"to{k}_shb"], d[f"to{k}_sha"] = m.shb.numpy(), m.sha.numpy()
        d[f"to{k}_grid"] = m.grid.numpy()
        d[f"to{k}_x"], d[f"to{k}_out"] = x.detach().numpy(), out.detach().numpy()
        d[f"to{k}_w"], d[f"to{k}_gx"] = _grad(out, x, g)
    for k, (res, lmax, norm, lmax_in) in enumerate(FROM_CASES):
        m = o3.FromS2Grid(res, lmax, normalization=norm, lmax_in=lmax_in)
        x = torch.randn(2, m.res_beta, m.res_alpha, generator=g, requires_grad=True)
        out = m(x)
        d[f"from{k}_res"] = np.array([m.lmax, m.res_beta, m.res_alpha])
        d[f"from{k}_shb"], d[f"from{k}_sha"] = m.shb.numpy(), m.sha.numpy()
        d[f"from{k}_x"], d[f"from{k}_out"] = x.detach().numpy(), out.detach().numpy()
        d[f"from{k}_w"], d[f"from{k}_gx"] = _grad(out, x, g)
    np.savez(os.path.join(out_dir, "s2grid_grids.npz"), **d)

    d = {}
    m = o3.SO3Grid(1, 2)
    d["D"], d["qw"] = m.D.numpy(), m.qw.numpy()
    x = torch.randn(2, 10, generator=g)
    d["to_x"], d["to_out"] = x.numpy(), m.to_grid(x).numpy()
    y = torch.randn(2, m.res_alpha, m.res_beta, m.res_gamma, generator=g)
    d["from_x"], d["from_out"] = y.numpy(), m.from_grid(y).numpy()
    np.savez(os.path.join(out_dir, "s2grid_so3.npz"), **d)

    d = {}
    s = io.SphericalTensor(2, 1, -1)
    pos = torch.randn(2, 5, 3, generator=g)
    val = torch.randn(2, 5, generator=g)
    d["pos"], d["val"] = pos.numpy(), val.numpy()
    d["from_samples"] = s.from_samples_on_s2(pos, val, res=20).numpy()
    sig = torch.randn(3, s.dim, generator=g)
    r = torch.randn(4, 3, generator=g)
    d["signal"], d["r"] = sig.numpy(), r.numpy()
    d["signal_xyz"] = s.signal_xyz(sig, r).numpy()
    d["norms"] = s.norms(sig).numpy()
    d["sum_of_diracs"] = s.sum_of_diracs(pos, val).numpy()
    grid, values = s.signal_on_grid(sig[0], res=10)
    d["on_grid_grid"], d["on_grid_values"] = grid.numpy(), values.numpy()
    s4 = io.SphericalTensor(4, 1, -1)
    peaks = torch.tensor([[1.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    d["peaks"] = peaks.numpy()
    d["with_peaks_at"] = s4.with_peaks_at(peaks).numpy()
    d["with_peaks_at_val"] = s4.with_peaks_at(peaks, torch.tensor([-1.5, 2.0])).numpy()
    pk_pos, pk_val = s4.find_peaks(s4.with_peaks_at(torch.tensor([[4.0, 0.0, 4.0], [0.0, 5.0, 0.0]])), res=50)
    d["find_peaks_pos"], d["find_peaks_val"] = pk_pos.numpy(), pk_val.numpy()
    r_plot, f_plot = s.plot(sig[0], center=torch.tensor([1.0, 2.0, 3.0]), res=10, relu=True)
    d["plot_r"], d["plot_f"] = r_plot.numpy(), f_plot.numpy()
    np.savez(os.path.join(out_dir, "s2grid_spherical_tensor.npz"), **d)

    d = {}
    cases = [  # (name, irreps, act, res, normalization, lmax_out)
        ("tanh", io.SphericalTensor(2, 1, -1), torch.tanh, 10, "component", None),
        ("silu_norm", io.SphericalTensor(2, 1, 1), torch.nn.functional.silu, 12, "norm", 3),
        ("odd_tanh", io.SphericalTensor(2, -1, -1), torch.tanh, 10, "component", 1),
        ("odd_abs", io.SphericalTensor(1, -1, 1), torch.abs, 8, "component", None),
    ]
    for name, irreps, act, res, norm, lmax_out in cases:
        m = nn.S2Activation(irreps, act, res, normalization=norm, lmax_out=lmax_out)
        x = torch.randn(3, irreps.dim, generator=g, requires_grad=True)
        out = m(x)
        d[f"s2_{name}_irreps_out"] = np.array(str(m.irreps_out))
        d[f"s2_{name}_x"], d[f"s2_{name}_out"] = x.detach().numpy(), out.detach().numpy()
        d[f"s2_{name}_w"], d[f"s2_{name}_gx"] = _grad(out, x, g)
    m = nn.SO3Activation(1, 2, torch.tanh, 3)
    x = torch.randn(2, 10, generator=g, requires_grad=True)
    out = m(x)
    d["so3_x"], d["so3_out"] = x.detach().numpy(), out.detach().numpy()
    d["so3_w"], d["so3_gx"] = _grad(out, x, g)
    np.savez(os.path.join(out_dir, "s2grid_act.npz"), **d)
