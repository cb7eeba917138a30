r"""3-D convolutions on voxel grids for e3nn's voxel models (``v2103`` / ``v2104`` ``voxel_convolution``).

:func:`conv3d` is torch's ``conv3d`` (cross-correlation, ``padding`` zeros on both sides, ``stride``): MindSpore's
``ops.conv3d`` for float16 / float32, and for float64 (which MindSpore's CPU kernel refuses) a sum over the kernel
offsets of one MatMul each, ``out += W[:, :, a, b, c] @ x_pad[..., a::s, b::s, c::s]`` -- exact in float64,
graph-mode clean and differentiable. :class:`LowPassFilter` is e3nn's Gaussian blur (optionally strided or
transposed), shared by both versions.

>>> import numpy as np, mindspore as ms
>>> x = ms.Tensor(np.ones((1, 1, 3, 3, 3)))
>>> conv3d(x, ms.Tensor(np.ones((1, 1, 3, 3, 3))), (1, 1, 1), (1, 1, 1))[0, 0, :, 1, 1].asnumpy().tolist()
[18.0, 27.0, 18.0]
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ... import o3
from ...math import soft_one_hot_linspace
from ...math._soft_one_hot_linspace import _torch_style_linspace
from ...util.dtype import check_float_dtype, constant
from ...util.second_order import SecondOrderGuard

__all__ = ["conv3d", "triple", "LowPassFilter", "lattice_axes", "VoxelConvolution"]


def triple(value, name):
    """``value`` as a tuple of 3 non-negative ints (an int is repeated)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value),) * 3
    value = tuple(int(v) for v in value)
    if len(value) != 3 or min(value) < 0:
        raise ValueError(f"{name} must be an int or 3 non-negative ints, got {value!r}")
    return value


def _pad(x, padding):
    """Zero-pad the last three axes of ``x`` by ``padding`` on both sides."""
    for axis, p in zip((2, 3, 4), padding):
        if p > 0:
            shape = list(x.shape)
            shape[axis] = p
            zeros = ops.zeros(tuple(shape), x.dtype)
            x = ops.concat([zeros, x, zeros], axis)
    return x


def _conv3d_matmul(x, kernel, padding, stride):
    """float64 ``conv3d``: one MatMul per kernel offset on the strided views of the padded input."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, kx, ky, kz = kernel.shape[0], kernel.shape[2], kernel.shape[3], kernel.shape[4]
    x = _pad(x, padding)
    sx, sy, sz = stride
    ox = (x.shape[2] - kx) // sx + 1
    oy = (x.shape[3] - ky) // sy + 1
    oz = (x.shape[4] - kz) // sz + 1
    out = None
    for a in range(kx):
        for b in range(ky):
            for c in range(kz):
                view = x[:, :, a:a + sx * (ox - 1) + 1:sx, b:b + sy * (oy - 1) + 1:sy, c:c + sz * (oz - 1) + 1:sz]
                rows = ops.transpose(view, (1, 0, 2, 3, 4)).reshape(c_in, batch * ox * oy * oz)
                term = ops.matmul(kernel[:, :, a, b, c], rows)
                out = term if out is None else out + term
    return ops.transpose(out.reshape(c_out, batch, ox, oy, oz), (1, 0, 2, 3, 4))


def conv3d(x, kernel, padding, stride):
    r"""torch's ``conv3d(x, kernel, padding=padding, stride=stride)`` (no bias, dilation 1, one group).

    Args:
        x (Tensor): ``[N, C_in, X, Y, Z]``.
        kernel (Tensor): ``[C_out, C_in, kx, ky, kz]``.
        padding (tuple[int]): zeros added on both sides of each spatial axis.
        stride (tuple[int]): step of each spatial axis.

    Returns:
        Tensor ``[N, C_out, X', Y', Z']`` with ``X' = (X + 2 p - kx) // s + 1``.
    """
    if x.dtype == ms.float64:
        return _conv3d_matmul(x, kernel, padding, stride)
    return ops.conv3d(x, kernel, stride=stride, pad_mode="pad", padding=padding)


def lattice_axes(values, steps):
    """e3nn's voxel lattice axes: ``values * steps[i] / min(steps)`` kept where ``|.| <= 1``, one per axis."""
    axes = []
    for step in steps:
        axis = values * step / min(steps)
        axes.append(axis[np.abs(axis) <= 1])
    return axes


def _dilate(x, axis, stride):
    """Insert ``stride - 1`` zeros between the entries of ``x`` along ``axis`` (transposed convolution)."""
    if stride == 1:
        return x
    n = x.shape[axis]
    x = ops.expand_dims(x, axis + 1)
    shape = list(x.shape)
    shape[axis + 1] = stride - 1
    x = ops.concat([x, ops.zeros(tuple(shape), x.dtype)], axis + 1)
    shape = list(x.shape)
    x = x.reshape(tuple(shape[:axis]) + (n * stride,) + tuple(shape[axis + 2:]))
    return x[(slice(None),) * axis + (slice(0, (n - 1) * stride + 1),)]


class LowPassFilter(SecondOrderGuard, nn.Cell):
    r"""Gaussian low-pass filter of 3-D images (e3nn's voxel ``LowPassFilter``): a normalised Gaussian of
    :math:`\sigma = \sqrt{\text{scale}^2 - 1} / 2` (in voxels, stretched by ``steps``), applied with ``stride``, or
    transposed (upsampling, kernel times ``stride**3``). ``scale <= 1`` is the identity.

    The Gaussian is separable: it is applied as three 1-D convolutions (the same numbers as e3nn's 3-D kernel, up
    to rounding), each a few MatMuls. ``kernel`` holds e3nn's 3-D kernel.

    Args:
        scale (float): blur scale.
        stride (int): stride of the convolution. Default: 1.
        transposed (bool): apply the transposed convolution. Default: False.
        steps (tuple[float]): voxel size along each axis. Default: ``(1, 1, 1)``.
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **image** (Tensor) - ``[..., X, Y, Z]``.

    Outputs:
        Tensor ``[..., X', Y', Z']``.

    Raises:
        ValueError: ``stride != 1`` with ``scale <= 1``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> LowPassFilter(2.0, stride=2)(ms.Tensor(np.ones((3, 8, 8, 8)), ms.float32)).shape
        (3, 4, 4, 4)
    """

    def __init__(self, scale, stride=1, transposed=False, steps=(1, 1, 1), *, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.scale = scale
        self.stride = stride
        self.transposed = transposed
        self._identity = scale <= 1
        if self._identity:
            if stride != 1:
                raise ValueError(f"LowPassFilter: scale={scale} <= 1 is the identity and needs stride=1, "
                                 f"got {stride}")
            self.size = 1
            return
        sigma = 0.5 * (scale ** 2 - 1) ** 0.5
        size = int(1 + 2 * 2.5 * sigma)
        if size % 2 == 0:
            size += 1
        self.size = size
        half = size // 2
        gaussians = [np.exp(-(axis * half) ** 2 / (2 * sigma ** 2))
                     for axis in lattice_axes(_torch_style_linspace(-1.0, 1.0, size), steps)]
        gaussians = [g / g.sum() * (stride if transposed else 1) for g in gaussians]
        self.kernel = constant(np.einsum("i,j,k->ijk", *gaussians)[None, None], dtype)
        self._kernels, self._paddings, self._crops = [], [], []
        for axis, g in enumerate(gaussians):
            shape = [1, 1, 1]
            shape[axis] = len(g)
            self._kernels.append(constant((g[::-1] if transposed else g).reshape(shape)[None, None], dtype))
            pad = len(g) - 1 - half if transposed else half  # transposed: convolve the dilated image, flipped
            self._paddings.append(tuple(max(pad, 0) if a == axis else 0 for a in range(3)))
            self._crops.append(max(-pad, 0))
        self._strides = tuple(tuple(1 if transposed or a != axis else stride for a in range(3)) for axis in range(3))

    def construct(self, image):
        if self._identity:
            return image
        lead = image.shape[:-3]
        out = image.reshape((-1, 1) + image.shape[-3:])
        for axis in range(3):
            if self.transposed:
                out = _dilate(out, axis + 2, self.stride)
            out = conv3d(out, self._kernels[axis], self._paddings[axis], self._strides[axis])
            crop = self._crops[axis]
            if crop > 0:  # negative padding of a transposed convolution
                out = out[(slice(None),) * (axis + 2) + (slice(crop, out.shape[axis + 2] - crop),)]
        return out.reshape(lead + out.shape[-3:])


def _conv_options(kwargs, default_padding):
    """``padding`` and ``stride`` triples from torch ``conv3d`` keyword arguments (the only ones supported)."""
    kwargs = dict(kwargs)
    padding = kwargs.pop("padding", default_padding)
    if padding == "valid":
        padding = 0
    elif padding == "same":
        padding = default_padding
    stride = kwargs.pop("stride", 1)
    for key, neutral in (("dilation", 1), ("groups", 1), ("bias", None)):
        value = kwargs.pop(key, neutral)
        if value != neutral and value != (neutral,) * 3:
            raise ValueError(f"voxel Convolution: conv3d {key}={value!r} is not supported")
    if kwargs:
        raise ValueError(f"voxel Convolution: unsupported conv3d arguments {sorted(kwargs)}")
    return triple(padding, "padding"), triple(stride, "stride")


class VoxelConvolution(SecondOrderGuard, nn.Cell):
    r"""The convolution of e3nn's voxel models: ``sc(x) + out_scale * conv3d(x, K)`` with a self-connection
    ``o3.Linear`` and the equivariant kernel :math:`K(ec r) = 	ext{tp.right}(Y(\hat r), R(|ec r|) W / n)` on a
    lattice (radial basis ``R``, learnt ``weight`` ``W``, spherical harmonics ``Y``).

    The subclasses in ``v2103`` / ``v2104`` build the lattice and the constants with e3nn's arguments.

    Args:
        irreps_in, irreps_out, irreps_sh (Irreps): input, output and kernel spherical harmonics irreps.
        lattice (numpy.ndarray): ``[x, y, z, 3]`` kernel lattice (physical units).
        radial_end (float): the radial basis (``smooth_finite``, with cutoff) spans ``[0, radial_end]``.
        num_radial_basis (int): number of radial functions.
        weight_divisor (float): ``n`` above.
        out_scale (float or None): factor of the convolution (None: 1).
        conv_kwargs (dict): torch ``conv3d`` keywords (``padding``, ``stride``).
        default_padding: padding when ``conv_kwargs`` has none.
        dtype (mindspore.dtype, optional): default: the default dtype.

    Inputs:
        - **x** (Tensor) - ``[batch, irreps_in.dim, X, Y, Z]``.

    Outputs:
        Tensor ``[batch, irreps_out.dim, X', Y', Z']``.
    """

    def __init__(self, irreps_in, irreps_out, irreps_sh, lattice, radial_end, num_radial_basis, weight_divisor,
                 out_scale, conv_kwargs, default_padding, dtype=None):
        super().__init__()
        self.dtype = dtype = check_float_dtype(dtype)
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        self.irreps_sh = o3.Irreps(irreps_sh)
        self.kwargs = dict(conv_kwargs)
        self._padding, self._stride = _conv_options(conv_kwargs, default_padding)
        self.sc = o3.Linear(self.irreps_in, self.irreps_out, dtype=dtype)
        lattice64 = ms.Tensor(lattice, ms.float64)
        emb = soft_one_hot_linspace(x=ops.sqrt((lattice64 * lattice64).sum(-1)), start=0.0, end=radial_end,
                                    number=num_radial_basis, basis="smooth_finite", cutoff=True)
        sh = o3.spherical_harmonics(self.irreps_sh, lattice64, True, "component")
        self.emb = constant(emb.asnumpy(), dtype)
        self.sh = constant(sh.asnumpy(), dtype)
        self.tp = o3.FullyConnectedTensorProduct(self.irreps_in, self.irreps_sh, self.irreps_out, shared_weights=False,
                                                 compile_left_right=False, compile_right=True, dtype=dtype)
        self.weight = ms.Parameter(constant(np.random.standard_normal((num_radial_basis, self.tp.weight_numel)),
                                            dtype), name="weight")
        self._grid = tuple(int(n) for n in lattice.shape[:3])
        points, dim_in = int(np.prod(self._grid)), self.irreps_in.dim
        # tp.right(sh, w) as one product: identity rows against the harmonics of every lattice point
        self._eye = constant(np.broadcast_to(np.eye(dim_in), (points, dim_in, dim_in)), dtype)
        self._sh_rows = constant(sh.asnumpy().reshape(points, 1, -1), dtype)
        self._dim_in = self.irreps_in.dim
        self._irreps_in_str = str(self.irreps_in)
        self._weight_divisor = constant([weight_divisor], dtype)
        self._out_scale = None if out_scale is None else constant([out_scale], dtype)

    def kernel(self):
        """The convolution kernel ``[irreps_out.dim, irreps_in.dim, x, y, z]``."""
        nx, ny, nz = self._grid
        weight = ops.matmul(self.emb.reshape(nx * ny * nz, -1), self.weight) / self._weight_divisor
        kernel = self.tp(self._eye, self._sh_rows, weight.reshape(nx * ny * nz, 1, -1))  # tp.right: [xyz, in, out]
        return ops.transpose(kernel.reshape(nx, ny, nz, self._dim_in, -1), (4, 3, 0, 1, 2))

    def construct(self, x):
        if len(x.shape) != 5 or x.shape[1] != self._dim_in:
            raise ValueError(f"voxel Convolution: input must have shape (batch, {self._dim_in}, x, y, z) for "
                             f"irreps_in={self._irreps_in_str}, got {x.shape}")
        sc = ops.transpose(self.sc(ops.transpose(x, (0, 4, 2, 3, 1))), (0, 4, 2, 3, 1))
        out = conv3d(x, self.kernel(), self._padding, self._stride)
        if self._out_scale is not None:
            out = self._out_scale * out
        return sc + out
