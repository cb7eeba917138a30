r"""The identity on a representation: :class:`Identity` (``irreps_in`` and ``irreps_out`` must agree).

>>> import numpy as np, mindspore as ms
>>> Identity("2x0e + 1o", "0e + 0e + 1o")(ms.Tensor(np.ones(5), ms.float32)).shape
(5,)
"""
import mindspore as ms
from mindspore import nn

from ..o3._irreps import Irreps
from ..util.dtype import check_float_dtype
from ..util.second_order import SecondOrderGuard
from ._extract import check_last_dim


class Identity(SecondOrderGuard, nn.Cell):
    r"""Identity operation :math:`x \mapsto x`.

    Args:
        irreps_in (Union[str, Irreps]): representation of the input.
        irreps_out (Union[str, Irreps]): representation of the output; equal to ``irreps_in`` once both are
            simplified.
        dtype (mindspore.dtype): keyword-only, accepted for a uniform API (nothing is built).

    Inputs:
        - **features** (Tensor) - shape ``(..., irreps_in.dim)``.

    Outputs:
        Tensor, the input itself.

    Raises:
        ValueError: if the simplified irreps differ.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> Identity("0e + 0e", "2x0e").irreps_out
        2x0e
    """

    def __init__(self, irreps_in, irreps_out, *, dtype=None):
        super().__init__()
        self.irreps_in = Irreps(irreps_in).simplify()
        self.irreps_out = Irreps(irreps_out).simplify()
        self.dtype = dtype = check_float_dtype(dtype)
        if self.irreps_in != self.irreps_out:
            raise ValueError(f"Identity: irreps_in {self.irreps_in} and irreps_out {self.irreps_out} differ")
        self._dim = self.irreps_in.dim
        self._irreps_str = str(self.irreps_in)

    def __repr__(self):
        return f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out})"

    def construct(self, features):
        check_last_dim(features, self._dim, self._irreps_str, "Identity")
        return features
