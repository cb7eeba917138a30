r"""Pointwise activation of a signal on SO(3) (e3nn's ``nn.SO3Activation``).

Features of irreps ``[(2l+1) x l for l <= lmax_in]`` are evaluated on the Euler-angle grid of
:class:`~mindchemistry_e3.o3.SO3Grid` (one matrix product), passed through the activation (normalised to unit
second moment) and projected back to ``lmax_out`` by quadrature (one matrix product).
"""
import mindspore as ms
from mindspore import nn

from ..math import normalize2mom
from ..o3 import SO3Grid
from ..util.dtype import check_float_dtype
from ..util.second_order import SecondOrderGuard


class SO3Activation(SecondOrderGuard, nn.Cell):
    r"""Apply a pointwise nonlinearity to a signal on SO(3) given by its Wigner coefficients.

    Args:
        lmax_in (int): input irreps ``[(2l+1) x l for l in 0..lmax_in]``.
        lmax_out (int): output irreps ``[(2l+1) x l for l in 0..lmax_out]``.
        act (Callable): elementwise activation (MindSpore function or Cell).
        resolution (int): SO(3) grid resolution.
        normalization (str): ``'component'`` (the only one, as e3nn).
        aspect_ratio (float): default 2.
        dtype (mindspore.dtype): dtype of the tables (keyword). Default: the default dtype (``get_default_dtype()``).

    Inputs:
        - **features** (Tensor) - shape ``(..., sum_{l <= lmax_in} (2l+1)^2)``.

    Outputs:
        Tensor of shape ``(..., sum_{l <= lmax_out} (2l+1)^2)``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> m = SO3Activation(1, 2, ms.ops.tanh, 3)
        >>> m(ms.ops.ones((2, 10), ms.float32)).shape
        (2, 35)
    """

    def __init__(self, lmax_in, lmax_out, act, resolution, *, normalization="component", aspect_ratio=2,
                 dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.grid_in = SO3Grid(lmax_in, resolution, normalization=normalization, aspect_ratio=aspect_ratio,
                               dtype=dtype)
        self.grid_out = SO3Grid(lmax_out, resolution, normalization=normalization, aspect_ratio=aspect_ratio,
                                dtype=dtype)
        self.act = normalize2mom(act, dtype)
        self.lmax_in = lmax_in
        self.lmax_out = lmax_out

    def __repr__(self):
        return f"{self.__class__.__name__} ({self.lmax_in} -> {self.lmax_out})"

    def construct(self, features):
        features = self.grid_in.to_grid(features)
        features = self.act(features)
        return self.grid_out.from_grid(features)


__all__ = ["SO3Activation"]
