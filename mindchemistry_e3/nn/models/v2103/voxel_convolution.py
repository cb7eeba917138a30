r"""e3nn's ``v2103.voxel_convolution``: a tentative equivariant convolution on voxels, and a Gaussian low-pass
filter.

Same constructor arguments, parameter names and outputs as e3nn 0.6.0 (torch's ``conv3d`` keywords ``padding`` and
``stride`` are accepted); :func:`test` is e3nn's ``test()`` of this file (a smaller grid and kernel).

>>> conv = Convolution("0e + 1e", "0e + 1e", "0e + 1e", 3)
>>> [n for n, _ in conv.parameters_and_names()], conv.kernel().shape
(['weight', 'sc.weight'], (4, 4, 3, 3, 3))
"""
import numpy as np
import mindspore as ms

from .... import o3
from ....math import soft_one_hot_linspace  # noqa: F401  (e3nn's module namespace)
from ....math._soft_one_hot_linspace import _torch_style_linspace
from ....o3 import FullyConnectedTensorProduct, Linear  # noqa: F401
from .._voxel import LowPassFilter, VoxelConvolution, lattice_axes

__all__ = ["Convolution", "LowPassFilter", "FullyConnectedTensorProduct", "Linear", "soft_one_hot_linspace", "test"]


class Convolution(VoxelConvolution):
    r"""Convolution on voxels: ``sc(x) + 0.1 * conv3d(x, K)`` with an equivariant kernel of ``size`` voxels per
    axis (see :class:`.._voxel.VoxelConvolution`), ``size`` radial functions on the unit ball and
    ``padding = size // 2`` by default.

    Args:
        irreps_in (Irreps): input irreps (channels of the image).
        irreps_out (Irreps): output irreps.
        irreps_sh (Irreps): kernel spherical harmonics, typically ``o3.Irreps.spherical_harmonics(lmax)``.
        size (int): kernel size in voxels.
        steps (tuple[float]): voxel size along each axis. Default: ``(1, 1, 1)``.
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
        >>> conv = Convolution("0e", "0e + 1o", "0e + 1o", 3)
        >>> conv(ms.Tensor(np.ones((1, 1, 4, 4, 4)), ms.float32)).shape
        (1, 4, 4, 4, 4)
    """

    def __init__(self, irreps_in, irreps_out, irreps_sh, size, steps=(1, 1, 1), *, dtype=None, **kwargs):
        axes = lattice_axes(_torch_style_linspace(-1.0, 1.0, size), steps)
        lattice = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        super().__init__(irreps_in, irreps_out, irreps_sh, lattice, 1.0, size, size ** (3 / 2), 0.1, kwargs,
                         size // 2, dtype)
        self.size = size
        self.num_rbfs = size


def test(dtype=ms.float64):
    """e3nn's ``test()`` of this file: the convolution and the filter run on a random image."""
    conv = Convolution("0e + 1e", "0e + 1e + 1o + 2e + 2o", o3.Irreps.spherical_harmonics(lmax=2), 3, dtype=dtype)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((2, 4, 6, 6, 6)), dtype)
    assert conv(x).shape == (2, conv.irreps_out.dim, 6, 6, 6)
    assert LowPassFilter(2.0, dtype=dtype)(x).shape == x.shape
