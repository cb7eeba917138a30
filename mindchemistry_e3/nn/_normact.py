r"""Norm-based activation (e3nn's ``NormActivation``).

Each irrep copy :math:`x_i` is multiplied by a scalar computed from its norm:

.. math::

    x_i \mapsto \frac{\sigma(\|x_i\| + b_i)}{\|x_i\|} x_i \quad (\text{normalize}), \qquad
    x_i \mapsto \sigma(\|x_i\| + b_i)\, x_i \quad (\text{otherwise}),

with :math:`\sigma` the ``scalar_nonlinearity`` (not normalised), :math:`b_i` optional learnable biases, and
(with ``normalize``) squared norms below :math:`\epsilon^2` clamped up to :math:`\epsilon^2` (zero gradient there),
as in e3nn. Lowered to ``(x * x) @ S`` (``S`` the constant copy-membership matrix) for the squared norms and one
constant gather that repeats each copy's scale over its ``2l+1`` components.

>>> import numpy as np, mindspore as ms
>>> from mindspore import ops
>>> n = NormActivation("2x1e", ops.sigmoid)
>>> out = n(ms.Tensor(np.ones((1, 6)), ms.float32))
>>> np.round(np.linalg.norm(out.asnumpy().reshape(2, 3), axis=-1), 4)
array([0.8497, 0.8497], dtype=float32)
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops, Parameter

from ..o3._irreps import Irreps
from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard


def copy_membership(irreps):
    """``S[c, i] = 1`` when component ``c`` of ``irreps`` belongs to irrep copy ``i`` (numpy float64)."""
    irreps = Irreps(irreps)
    index = []
    copy = 0
    for mul, ir in irreps:
        index.append(np.repeat(np.arange(copy, copy + mul), ir.dim))
        copy += mul
    index = np.concatenate(index + [np.zeros(0, np.int64)]).astype(np.int64)
    s = np.zeros((irreps.dim, irreps.num_irreps))
    s[np.arange(irreps.dim), index] = 1.0
    return s, index.astype(np.int32)


class NormActivation(SecondOrderGuard, nn.Cell):
    r"""Norm-based activation function.

    Args:
        irreps_in (Union[str, Irreps]): representation of the input (and output).
        scalar_nonlinearity (Callable): elementwise MindSpore function or Cell, e.g. ``ops.sigmoid``.
        normalize (bool): divide each copy by its norm before scaling. Default True.
        epsilon (float, optional): with ``normalize``, squared norms below ``epsilon**2`` are clamped to it
            (default ``1e-8``). Not allowed when ``normalize`` is False.
        bias (bool): learnable additive biases ``biases`` (one per copy, initialised to 0) inside the
            nonlinearity. Default False.
        dtype (mindspore.dtype): keyword-only, dtype of parameters and constants (default: the default dtype
            (``get_default_dtype()``)).

    Inputs:
        - **features** (Tensor) - shape ``(..., irreps_in.dim)``.

    Outputs:
        Tensor of the same shape.

    Raises:
        ValueError: for ``epsilon`` with ``normalize=False``, a non-positive ``epsilon`` or a wrong last axis.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> from mindspore import ops
        >>> NormActivation("0e + 2x1o", ops.tanh, bias=True).biases.shape
        (3,)

    Note:
        e3nn 0.6.0 raises a TypeError for ``normalize=False`` (its epsilon check compares None); here
        ``normalize=False`` works and uses the plain norm :math:`\sqrt{\sum_m x_m^2}` (zero gradient at zero).
    """

    def __init__(self, irreps_in, scalar_nonlinearity, normalize=True, epsilon=None, bias=False, *,
                 dtype=None):
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.irreps_out = Irreps(irreps_in)
        self.dtype = dtype = check_float_dtype(dtype)
        if epsilon is None and normalize:
            epsilon = 1e-8
        elif epsilon is not None and not normalize:
            raise ValueError("NormActivation: epsilon and normalize = False don't make sense together")
        if epsilon is not None and not epsilon > 0:
            raise ValueError(f"NormActivation: epsilon {epsilon} is invalid, must be strictly positive.")
        if not callable(scalar_nonlinearity):
            raise ValueError(f"NormActivation: scalar_nonlinearity must be callable, got {scalar_nonlinearity!r}")
        self.epsilon = epsilon
        self.normalize = bool(normalize)
        self.bias = bool(bias)
        self.scalar_nonlinearity = scalar_nonlinearity
        num = self.irreps_in.num_irreps
        if self.bias:
            self.biases = Parameter(constant(np.zeros(num), dtype), name="biases")
        membership, index = copy_membership(self.irreps_in)
        self._membership = constant(membership, dtype)
        self._index = ms.Tensor(index, ms.int32)
        self._eps_squared = constant(epsilon * epsilon if epsilon is not None else 0.0, dtype)
        self._use_eps = epsilon is not None
        self._dim = self.irreps_in.dim
        self._num = num
        self._irreps_str = str(self.irreps_in)

    def __repr__(self):
        return f"{self.__class__.__name__}({self.irreps_in}, normalize={self.normalize}, bias={self.bias})"

    def construct(self, features):
        if features.shape[-1] != self._dim:
            raise ValueError(f"NormActivation: input of irreps {self._irreps_str} needs a last axis of size "
                             f"{self._dim}, got shape {features.shape}")
        lead = features.shape[:-1]
        flat = features.reshape((-1, self._dim))
        squared = ops.matmul(flat * flat, self._membership.astype(flat.dtype))  # [n, num_irreps]
        if self._use_eps:
            eps2 = self._eps_squared.astype(flat.dtype)
            norms = ops.sqrt(ops.where(squared < eps2, eps2 * ops.ones_like(squared), squared))
        else:
            positive = squared > 0
            safe = ops.where(positive, squared, ops.ones_like(squared))
            norms = ops.where(positive, ops.sqrt(safe), ops.zeros_like(squared))
        arg = norms
        if self.bias:
            arg = arg + self.biases
        scalings = self.scalar_nonlinearity(arg)
        if self.normalize:
            scalings = scalings / norms
        out = flat * ops.gather(scalings, self._index, 1)
        return out.reshape(lead + (self._dim,))
