r"""Equivariant dropout: one Bernoulli draw per sample and irrep copy, shared by the irrep's components.

With :math:`A_{zai}` the input (``z`` batch, ``a`` any middle axes, ``i`` the irrep copy) the output is
:math:`B_{zai} = \frac{x_{zi}}{1-p} A_{zai}`, :math:`x_{zi} \sim \mathrm{Bernoulli}(1-p)`. The draws are
expanded to the components by a constant gather index, so a rotation commutes with the mask.

>>> import numpy as np, mindspore as ms
>>> d = Dropout("2x1o", p=0.5); _ = d.set_train(False)
>>> d(ms.Tensor(np.ones((3, 6)), ms.float32)).asnumpy().sum()
18.0
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..o3._irreps import Irreps
from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard
from ._extract import check_last_dim


class Dropout(SecondOrderGuard, nn.Cell):
    r"""Equivariant dropout (active only in training mode, ``cell.set_train(True)``).

    Args:
        irreps (Union[str, Irreps]): representation of the input.
        p (float): probability to drop an irrep copy.
        dtype (mindspore.dtype): keyword-only, dtype of the scale constant (default: the default dtype
            (``get_default_dtype()``)).

    Inputs:
        - **x** (Tensor) - shape ``(batch, ..., irreps.dim)``.

    Outputs:
        Tensor of the same shape: each irrep copy of each batch entry is zeroed with probability ``p`` and the
        survivors are scaled by :math:`1/(1-p)`. Identity in evaluation mode.

    Raises:
        ValueError: if ``p`` is not a number or the input's last axis is not ``irreps.dim``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> d = Dropout("0e + 1o", p=0.25); _ = d.set_train(True)
        >>> d(ms.Tensor(np.ones((8, 4)), ms.float32)).shape
        (8, 4)
    """

    def __init__(self, irreps, p, *, dtype=None):
        super().__init__()
        self.irreps = Irreps(irreps)
        try:
            self.p = float(p)
        except (TypeError, ValueError):
            raise ValueError(f"Dropout: p must be a probability, got {p!r}") from None
        self.dtype = dtype = check_float_dtype(dtype)
        self._dim = self.irreps.dim
        self._irreps_str = str(self.irreps)
        self._num = self.irreps.num_irreps
        # component -> irrep copy
        index = np.concatenate([np.repeat(np.arange(mul) + start, ir.dim) for (mul, ir), start in
                                zip(self.irreps, np.cumsum([0] + [mul for mul, _ in self.irreps])[:-1])]
                               + [np.zeros(0, np.int64)]).astype(np.int32)
        self._index = ms.Tensor(index, ms.int32)
        self._keep_prob = 1.0 - self.p
        self._scale = constant(1.0 / self._keep_prob if 0.0 < self.p < 1.0 else 1.0, dtype)

    def __repr__(self):
        return f"{self.__class__.__name__} ({self.irreps}, p={self.p})"

    def construct(self, x):
        check_last_dim(x, self._dim, self._irreps_str, "Dropout")
        if not self.training or self.p <= 0.0 or self._dim == 0:
            return x
        if self.p >= 1.0:
            return x * ops.zeros_like(x)
        batch = x.shape[0]
        u = ops.rand((batch, self._num), dtype=ms.float32)
        noise = (u < self._keep_prob).astype(x.dtype) * self._scale.astype(x.dtype)  # [batch, num_irreps]
        noise = ops.gather(noise, self._index, 1)  # [batch, dim]
        noise = noise.reshape((batch,) + (1,) * (x.ndim - 2) + (self._dim,))
        return x * noise
