r"""e3nn's ``v2104.voxel_convolution``: an equivariant convolution on voxels whose kernel is given in physical
units (``diameter``, ``steps``), and a Gaussian low-pass filter.

Same constructor arguments, parameter names and outputs as e3nn 0.6.0 (torch's ``conv3d`` keywords ``padding`` and
``stride`` are accepted); :func:`test` is e3nn's ``test()`` of this file (a smaller grid and kernel).

>>> conv = Convolution("0e + 1e", "0e + 1e", "0e + 1e", diameter=3.0, num_radial_basis=2, steps=(1.0, 1.0, 2.0))
>>> conv.lattice.shape, conv.kernel().shape
((3, 3, 1, 3), (4, 4, 3, 3, 1))
"""
import math

import numpy as np
import mindspore as ms

from .... import o3
from ....math import soft_one_hot_linspace  # noqa: F401  (e3nn's module namespace)
from ....o3 import FullyConnectedTensorProduct, Linear  # noqa: F401
from ....util.dtype import constant
from .._voxel import LowPassFilter, VoxelConvolution

__all__ = ["Convolution", "LowPassFilter", "FullyConnectedTensorProduct", "Linear", "soft_one_hot_linspace", "test"]


class Convolution(VoxelConvolution):
    r"""Convolution on voxels: ``sc(x) + conv3d(x, K)`` with an equivariant kernel on the lattice points within
    ``diameter / 2`` along each axis (see :class:`.._voxel.VoxelConvolution`), ``num_radial_basis`` radial
    functions on ``[0, diameter / 2]``, the kernel divided by its number of points, and half the kernel size as
    default padding.

    Args:
        irreps_in (Irreps): input irreps (channels of the image).
        irreps_out (Irreps): output irreps.
        irreps_sh (Irreps): kernel spherical harmonics, typically ``o3.Irreps.spherical_harmonics(lmax)``.
        diameter (float): diameter of the filter in physical units.
        num_radial_basis (int): number of radial functions.
        steps (tuple[float]): voxel size along each axis in physical units. Default: ``(1.0, 1.0, 1.0)``.
        **kwargs: torch ``conv3d`` keywords ``padding``, ``stride``.
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **x** (Tensor) - ``[batch, irreps_in.dim, X, Y, Z]``.

    Outputs:
        Tensor ``[batch, irreps_out.dim, X', Y', Z']``.

    Raises:
        ValueError: unsupported ``conv3d`` keywords, or an input of the wrong shape.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> conv = Convolution("0e", "0e + 1o", "0e + 1o", diameter=3.0, num_radial_basis=2)
        >>> conv(ms.Tensor(np.ones((1, 1, 4, 4, 4)), ms.float32)).shape
        (1, 4, 4, 4, 4)
    """

    def __init__(self, irreps_in, irreps_out, irreps_sh, diameter, num_radial_basis, steps=(1.0, 1.0, 1.0), *,
                 dtype=None, **kwargs):
        r = diameter / 2
        axes = [np.arange(-math.floor(r / step), math.floor(r / step) + 1.0) * step for step in steps]
        lattice = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        super().__init__(irreps_in, irreps_out, irreps_sh, lattice, r, num_radial_basis,
                         lattice.shape[0] * lattice.shape[1] * lattice.shape[2], None, kwargs,
                         tuple(s // 2 for s in lattice.shape[:3]), dtype)
        self.num_radial_basis = num_radial_basis
        self.lattice = constant(lattice, self.dtype)


def test(dtype=ms.float64):
    """e3nn's ``test()`` of this file: the convolution and the filter run on a random image."""
    conv = Convolution("0e + 1e", "0e + 1e + 1o + 2e + 2o", o3.Irreps.spherical_harmonics(lmax=2), diameter=3,
                       num_radial_basis=3, steps=(1, 1, 1), dtype=dtype)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((2, 4, 6, 6, 6)), dtype)
    assert conv(x).shape == (2, conv.irreps_out.dim, 6, 6, 6)
    assert LowPassFilter(2.0, dtype=dtype)(x).shape == x.shape
