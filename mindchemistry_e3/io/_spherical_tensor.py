r"""Signals on the sphere stored as spherical-harmonic coefficients (e3nn's ``io.SphericalTensor``).

A ``SphericalTensor(lmax, p_val, p_arg)`` holds :math:`A^l`, :math:`l \le l_{max}`, of
:math:`f(x) = \sum_l A^l \cdot Y^l(x)`; under parity :math:`(Pf)(x) = p_v f(p_a x)`, so :math:`A^l` has parity
:math:`p_v p_a^l`. The grid transforms are :class:`~mindchemistry_e3.o3.ToS2Grid` /
:class:`~mindchemistry_e3.o3.FromS2Grid` (cached per resolution and dtype). The methods run eagerly (PyNative).
"""
import functools
import math
from collections import namedtuple

import numpy as np
import mindspore as ms
from mindspore import ops

from ..o3._irreps import Irreps
from ..o3._s2grid_np import legendre_np, spherical_harmonics_alpha_np
from ..o3._so3_np import wigner_D
from ..util.dtype import check_float_dtype, constant

SignalOnGrid = namedtuple("Return", "grid, values")


def _sh_np(lmax, xyz):
    r"""e3nn's spherical harmonics (integral normalisation) of the unit vectors along ``xyz`` (..., 3), numpy."""
    xyz = np.asarray(xyz, dtype=np.float64)
    r = np.linalg.norm(xyz, axis=-1)
    u = xyz / np.where(r > 0, r, 1.0)[..., None]
    beta = np.arccos(np.clip(u[..., 1], -1.0, 1.0))
    alpha = np.arctan2(u[..., 0], u[..., 2])
    p = legendre_np(list(range(lmax + 1)), np.cos(beta), np.sin(beta))
    s = spherical_harmonics_alpha_np(lmax, alpha)
    return np.concatenate([p[..., l * l:(l + 1) ** 2] * s[..., lmax - l:lmax + l + 1] for l in range(lmax + 1)], -1)


def _np(x):
    return x.asnumpy() if isinstance(x, ms.Tensor) else np.asarray(x)


def _dtype_of(*xs):
    """The dtype of the first Tensor among ``xs``, else the default dtype (numpy inputs)."""
    for x in xs:
        if isinstance(x, ms.Tensor):
            return x.dtype
    return check_float_dtype(None)


@functools.lru_cache(maxsize=None)
def _to_grid(lmax, res, normalization, dtype):
    from ..o3._s2grid import ToS2Grid

    return ToS2Grid(lmax, res, normalization=normalization, dtype=dtype)


@functools.lru_cache(maxsize=None)
def _from_grid(res, lmax, normalization, dtype):
    from ..o3._s2grid import FromS2Grid

    return FromS2Grid(res, lmax, normalization=normalization, dtype=dtype)


def _safe_norm(x):
    r2 = (x * x).sum(-1)
    nz = r2 > 0
    return ops.where(nz, ops.sqrt(ops.where(nz, r2, ops.ones_like(r2))), ops.zeros_like(r2))


class SphericalTensor(Irreps):
    r"""The irreps ``[(1, (l, p_val * p_arg**l)) for l in 0..lmax]`` of a signal on the sphere, with helpers.

    Args:
        lmax (int): :math:`l_{max}`.
        p_val (int): :math:`p_v` in :math:`(Pf)(x) = p_v f(p_a x)`, +1 or -1.
        p_arg (int): :math:`p_a`, +1 or -1.

    Raises:
        ValueError: negative ``lmax`` or parities other than +1 / -1.

    Examples:
        >>> SphericalTensor(3, 1, 1)
        1x0e+1x1e+1x2e+1x3e
        >>> SphericalTensor(3, 1, -1)
        1x0e+1x1o+1x2e+1x3o
    """

    def __new__(cls, lmax, p_val, p_arg):
        if isinstance(lmax, bool) or not isinstance(lmax, (int, np.integer)) or lmax < 0:
            raise ValueError(f"lmax must be a non-negative integer, got {lmax!r}")
        if p_val not in (-1, 1) or p_arg not in (-1, 1):
            raise ValueError(f"p_val and p_arg must be +1 or -1, got p_val={p_val!r}, p_arg={p_arg!r}")
        return super().__new__(cls, [(1, (l, p_val * p_arg ** l)) for l in range(lmax + 1)])

    def _check_signal(self, signal):
        if signal.ndim < 1 or signal.shape[-1] != self.dim:
            raise ValueError(f"SphericalTensor {Irreps(self)} expects a signal of shape (..., {self.dim}), "
                             f"got {signal.shape}")

    def with_peaks_at(self, vectors, values=None):
        r"""Coefficients of a signal whose values at the directions ``vectors`` ``(N, 3)`` are their norms
        (or ``values`` ``(N,)``), by least squares on :math:`Y(v_a) \cdot Y(v_b)`.

        Examples:
            >>> import mindspore as ms
            >>> s = SphericalTensor(4, 1, -1)
            >>> pos = ms.Tensor([[1.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
            >>> s.signal_xyz(s.with_peaks_at(pos), pos).asnumpy().round(4).tolist()
            [1.0, 5.0]
        """
        dtype = _dtype_of(vectors, values)
        v = _np(vectors).astype(np.float64)
        if values is not None:
            v, val = np.broadcast_arrays(v, _np(values).astype(np.float64)[..., None])
            val = val[..., 0]
        if v.size == 0:
            return ops.zeros(v.shape[:-2] + (self.dim,), dtype)
        if self[0].ir.p != 1:
            raise ValueError(f"with_peaks_at needs p_val = 1 (the peak values are radii, even), got {Irreps(self)}")
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"with_peaks_at expects vectors of shape (N, 3), got {v.shape}")
        if values is None:
            val = np.linalg.norm(v, axis=1)
        keep = val != 0
        v, val = v[keep], val[keep]
        coeff = _sh_np(self.lmax, v)  # (N, dim)
        a = coeff @ coeff.T
        solution = np.linalg.lstsq(a, val, rcond=None)[0]
        if np.abs(val - a @ solution).max() > 1e-5 * np.abs(val).max():
            raise ValueError(f"with_peaks_at: lmax={self.lmax} cannot fit peaks at these {len(v)} directions")
        return constant(solution @ coeff, dtype)

    def sum_of_diracs(self, positions, values):
        r""":math:`\frac{4\pi}{(l_{max}+1)^2}\sum_i v_i Y(\vec r_i)`: approximate Dirac deltas, ``positions``
        ``(..., N, 3)`` and ``values`` ``(..., N)`` -> ``(..., dim)``.

        Examples:
            >>> import mindspore as ms
            >>> s = SphericalTensor(7, 1, -1)
            >>> x = s.sum_of_diracs(ms.Tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), ms.Tensor([-1.0, 1.0]))
            >>> ((s.signal_xyz(x, ms.ops.eye(3, 3, ms.float32)).asnumpy() * 10).round() + 0.0).tolist()
            [-10.0, 10.0, 0.0]
        """
        from ..o3._spherical_harmonics import spherical_harmonics

        dtype = _dtype_of(values, positions)
        positions = positions if isinstance(positions, ms.Tensor) else ms.Tensor(np.asarray(positions), dtype)
        values = values if isinstance(values, ms.Tensor) else ms.Tensor(np.asarray(values), dtype)
        shape = np.broadcast_shapes(tuple(positions.shape[:-1]), tuple(values.shape))
        if int(np.prod(shape)) == 0:
            return ops.zeros(shape[:-1] + (self.dim,), dtype)
        y = spherical_harmonics(list(range(self.lmax + 1)), ops.broadcast_to(positions.astype(dtype), shape + (3,)),
                                True)
        v = ops.broadcast_to(values.astype(dtype), shape)
        scale = constant(np.array(4 * math.pi / (self.lmax + 1) ** 2), dtype)
        return (y * ops.expand_dims(v, -1)).sum(-2) * scale

    def from_samples_on_s2(self, positions, values, res=100):
        r"""Coefficients of the signal sampled at ``positions`` ``(..., N, 3)`` with ``values`` ``(..., N)``:
        each grid point takes the value of its nearest sample, then :class:`FromS2Grid` (integral normalisation).

        Examples:
            >>> import mindspore as ms
            >>> s = SphericalTensor(2, 1, 1)
            >>> pos = ms.Tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]])
            >>> val = ms.Tensor([[1.0, -1.0], [1.0, -1.0]])
            >>> s.from_samples_on_s2(pos, val, res=200).asnumpy().round().astype(int).tolist()
            [[0, 0, 0, 3, 0, 0, 0, 0, 0], [0, 0, 3, 0, 0, 0, 0, 0, 0]]
        """
        dtype = _dtype_of(values, positions)
        pos = _np(positions).astype(np.float64)
        values = values if isinstance(values, ms.Tensor) else ms.Tensor(np.asarray(values), dtype)
        shape = np.broadcast_shapes(pos.shape[:-1], tuple(values.shape))
        if int(np.prod(shape)) == 0:
            return ops.zeros(shape[:-1] + (self.dim,), dtype)
        pos = np.broadcast_to(pos, shape + (3,))
        norm = np.linalg.norm(pos, axis=-1, keepdims=True)
        pos = pos / np.maximum(norm, 1e-12)
        size, n = shape[:-1], shape[-1]
        pos = pos.reshape(-1, n, 3)
        m = _from_grid(res, self.lmax, "integral", dtype)
        grid = m.grid.asnumpy().astype(np.float64).reshape(1, -1, 3)
        dist = np.linalg.norm(grid[:, :, None, :] - pos[:, None, :, :], axis=-1)  # (batch, b*a, N)
        idx = dist.argmin(2).astype(np.int32)
        val = ops.broadcast_to(values, shape).reshape(-1, n)
        val = ops.gather_elements(val, 1, ms.Tensor(idx))
        return m(val.reshape(tuple(size) + (m.res_beta, m.res_alpha)))

    def norms(self, signal):
        r"""Norm of each :math:`A^l`: ``(..., dim)`` -> ``(..., lmax + 1)``.

        Examples:
            >>> import mindspore as ms
            >>> SphericalTensor(1, 1, -1).norms(ms.Tensor([1.5, 0.0, 3.0, 4.0])).asnumpy().tolist()
            [1.5, 5.0]
        """
        self._check_signal(signal)
        return ops.stack([_safe_norm(signal[..., s.start:s.stop]) for s in self.slices()], axis=-1)

    def signal_xyz(self, signal, r):
        r"""The signal at the directions ``r``: ``signal`` ``(*A, dim)``, ``r`` ``(*B, 3)`` -> ``(*A, *B)``.

        Examples:
            >>> import mindspore as ms
            >>> s = SphericalTensor(3, 1, -1)
            >>> s.signal_xyz(s.randn(2, 1, 3, -1), ms.ops.ones((2, 4, 3), ms.float32)).shape
            (2, 1, 3, 2, 4)
        """
        from ..o3._spherical_harmonics import spherical_harmonics

        self._check_signal(signal)
        r = r if isinstance(r, ms.Tensor) else ms.Tensor(np.asarray(r), signal.dtype)
        if r.ndim < 1 or r.shape[-1] != 3:
            raise ValueError(f"signal_xyz expects r of shape (..., 3), got {r.shape}")
        sh = spherical_harmonics(list(range(self.lmax + 1)), r.astype(signal.dtype), True)
        out = ops.matmul(signal.reshape(-1, self.dim), sh.reshape(-1, self.dim).T)
        return out.reshape(tuple(signal.shape[:-1]) + tuple(r.shape[:-1]))

    def signal_on_grid(self, signal, res=100, normalization="integral"):
        r"""``(grid, values)``: the grid points ``(res_beta, res_alpha, 3)`` and the signal on them.

        Examples:
            >>> import mindspore as ms
            >>> grid, values = SphericalTensor(2, 1, 1).signal_on_grid(ms.ops.ones(9, ms.float32), res=10)
            >>> grid.shape, values.shape
            ((10, 9, 3), (10, 9))
        """
        self._check_signal(signal)
        m = _to_grid(self.lmax, res, normalization, signal.dtype)
        return SignalOnGrid(m.grid, m(signal))

    def plot(self, signal, center=None, res=100, radius=True, relu=False, normalization="integral"):
        r"""Surface ``(r, f)`` for plotting a 1-d ``signal``: points ``(res_beta, res_alpha + 1, 3)`` (the poles
        closed, the seam repeated), scaled by :math:`|f|` when ``radius``, shifted by ``center``, and the values.

        Examples:
            >>> import mindspore as ms
            >>> r, f = SphericalTensor(2, 1, 1).plot(ms.ops.ones(9, ms.float32), res=10)
            >>> r.shape, f.shape
            ((10, 10, 3), (10, 10))
        """
        if signal.ndim != 1:
            raise ValueError(f"plot expects a 1-d signal of shape ({self.dim},), got {signal.shape}")
        r, f = self.signal_on_grid(signal, res, normalization)
        r = r.asnumpy().astype(np.float64).copy()
        f = f.asnumpy().astype(np.float64).copy()
        if relu:
            f = np.maximum(f, 0.0)
        r[0] = [0.0, 1.0, 0.0]  # beta = 0 and pi: the poles
        r[-1] = [0.0, -1.0, 0.0]
        f[0] = f[0].mean()
        f[-1] = f[-1].mean()
        r = np.concatenate([r, r[:, :1]], axis=1)
        f = np.concatenate([f, f[:, :1]], axis=1)
        if radius:
            r = r * np.abs(f)[..., None]
        if center is not None:
            r = r + _np(center).astype(np.float64)
        return constant(r, signal.dtype), constant(f, signal.dtype)

    def plotly_surface(self, signals, centers=None, res=100, radius=True, relu=False, normalization="integral"):
        r"""One dict per signal with the keys ``x``, ``y``, ``z``, ``surfacecolor`` (numpy arrays) for
        ``plotly.graph_objects.Surface``.

        Examples:
            >>> x = SphericalTensor(2, 1, 1)
            >>> traces = x.plotly_surface(x.randn(-1), res=10)
            >>> sorted(traces[0])
            ['surfacecolor', 'x', 'y', 'z']
        """
        signals = signals.reshape(-1, self.dim)
        centers = [None] * signals.shape[0] if centers is None else list(_np(centers).reshape(-1, 3))
        traces = []
        for i, center in enumerate(centers):
            r, f = self.plot(signals[i], center, res, radius, relu, normalization)
            r = r.asnumpy()
            traces.append({"x": r[:, :, 0], "y": r[:, :, 1], "z": r[:, :, 2], "surfacecolor": f.asnumpy()})
        return traces

    def find_peaks(self, signal, res=100):
        r"""Local maxima of a 1-d ``signal``: ``(positions (P, 3), values (P,))``, searched on the grid and on a grid
        rotated by :math:`(\pi/2, \pi/2, \pi/2)` (to see the poles), the two lists merged.

        Examples:
            >>> import mindspore as ms
            >>> s = SphericalTensor(4, 1, -1)
            >>> x = s.with_peaks_at(ms.Tensor([[4.0, 0.0, 4.0], [0.0, 5.0, 0.0]]))
            >>> pos, val = s.find_peaks(x)
            >>> (abs(pos.asnumpy()[val.asnumpy() > 4.0]) * 10).round().tolist()
            [[7.0, 0.0, 7.0], [0.0, 10.0, 0.0]]
        """
        import scipy.signal

        if signal.ndim != 1:
            raise ValueError(f"find_peaks expects a 1-d signal of shape ({self.dim},), got {signal.shape}")
        dtype = signal.dtype
        x1, f1 = (t.asnumpy().astype(np.float64) for t in self.signal_on_grid(signal, res))
        abc = (math.pi / 2,) * 3
        rot = wigner_D(1, *abc)  # the rotation matrix acting on (x, y, z)
        d = np.zeros((self.dim, self.dim))
        for sl, (_, ir) in zip(self.slices(), self):
            d[sl, sl] = wigner_D(ir.l, *abc)
        r_signal = ops.matmul(constant(d, dtype), signal)
        rx2, f2 = (t.asnumpy().astype(np.float64) for t in self.signal_on_grid(r_signal, res))
        x2 = rx2 @ rot  # back to the frame of the signal: R^T x

        def peaks_2d(f):
            rows = {(i, j) for i in range(f.shape[0]) for j in scipy.signal.find_peaks(f[i, :])[0]}
            cols = {(i, j) for j in range(f.shape[1]) for i in scipy.signal.find_peaks(f[:, j])[0]}
            return sorted(rows & cols)

        p1, p2 = peaks_2d(f1), peaks_2d(f2)
        x1p = np.array([x1[i, j] for i, j in p1]).reshape(-1, 3)
        f1p = np.array([f1[i, j] for i, j in p1])
        x2p = np.array([x2[i, j] for i, j in p2]).reshape(-1, 3)
        f2p = np.array([f2[i, j] for i, j in p2])
        dup = (np.linalg.norm(x1p[:, None] - x2p[None], axis=-1) < 2 * math.pi / res).any(1)
        return constant(np.concatenate([x1p[~dup], x2p]), dtype), constant(np.concatenate([f1p[~dup], f2p]), dtype)
