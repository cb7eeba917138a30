r"""Batch normalisation for orthonormal representations (e3nn's ``BatchNorm``).

For each irrep block (``mul`` copies of dimension ``d``) of an input ``(batch, ..., dim)`` seen as
``(batch, sample, mul, d)`` (lowered for all blocks at once: a gather of the scalar columns, one MatMul with a
constant copy-membership matrix for the norms, one gather that spreads the per-copy scales over components):

- scalars (``0e``) are centred by their mean over batch and samples (per sample in ``instance`` mode);
- every copy is divided by :math:`\sqrt{n + \epsilon}` with :math:`n` its squared norm (``'norm'``) or mean
  square component (``'component'``), reduced over samples by ``'mean'`` or ``'max'`` and averaged over the
  batch (not in ``instance`` mode); rotations do not change these norms, so the layer is equivariant;
- with ``affine``, copies are multiplied by ``weight`` (one per copy) and scalars get a ``bias``.

In training (``set_train(True)``, not ``instance``) the batch statistics are used and the running statistics
``running_mean`` / ``running_var`` (non-trainable Parameters) move towards them,
:math:`r \leftarrow (1 - m) r + m s`, by an in-graph ``ops.assign`` (works in GRAPH_MODE and PyNative, also
inside a compiled train step). In evaluation the running statistics are used.

>>> import numpy as np, mindspore as ms
>>> bn = BatchNorm("2x0e + 1o"); _ = bn.set_train(True)
>>> bn(ms.Tensor(np.random.randn(8, 5), ms.float32)).shape
(8, 5)
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops, Parameter

from ..o3._irreps import Irreps
from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard
from ._extract import check_last_dim


class BatchNorm(SecondOrderGuard, nn.Cell):
    r"""Batch normalisation for orthonormal representations.

    Args:
        irreps (Union[str, Irreps]): representation of the input.
        eps (float): added to the variance before the square root. Default ``1e-5``.
        momentum (float): momentum of the running averages. Default ``0.1``.
        affine (bool): learn ``weight`` (one per irrep copy) and ``bias`` (one per scalar). Default True.
        reduce (str): ``'mean'`` or ``'max'``: how norms are reduced over the sample axes.
        instance (bool): instance normalisation (statistics per batch entry, no running statistics).
        include_bias (bool): with ``affine``, learn a bias for the scalars. Default True.
        normalization (str): ``'component'`` (mean square component) or ``'norm'`` (squared norm).
        dtype (mindspore.dtype): keyword-only, dtype of parameters and constants (default: the default dtype
            (``get_default_dtype()``)).

    Inputs:
        - **input** (Tensor) - shape ``(batch, ..., irreps.dim)``.

    Outputs:
        Tensor of the same shape.

    Raises:
        ValueError: for an unknown ``reduce`` / ``normalization`` or a wrong last axis.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> bn = BatchNorm("3x0e + 2x1o", momentum=0.5); _ = bn.set_train(True)
        >>> _ = bn(ms.Tensor(np.random.randn(16, 9), ms.float32))
        >>> bn.running_mean.shape, bn.running_var.shape
        ((3,), (5,))
    """

    def __init__(self, irreps, eps=1e-5, momentum=0.1, affine=True, reduce="mean", instance=False,
                 include_bias=True, normalization="component", *, dtype=None):
        super().__init__()
        self.irreps = Irreps(irreps)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.affine = bool(affine)
        self.instance = bool(instance)
        self.include_bias = bool(include_bias)
        self.dtype = dtype = check_float_dtype(dtype)
        if not isinstance(reduce, str) or reduce not in ("mean", "max"):
            raise ValueError(f"BatchNorm({self.irreps}): reduce must be 'mean' or 'max', got {reduce!r}")
        if normalization not in ("norm", "component"):
            raise ValueError(f"BatchNorm({self.irreps}): normalization must be 'norm' or 'component', "
                             f"got {normalization!r}")
        self.reduce = reduce
        self.normalization = normalization

        num_scalar = sum(mul for mul, ir in self.irreps if ir.is_scalar())
        num_features = self.irreps.num_irreps
        self._num_scalar = num_scalar
        self._num_features = num_features
        self._dim = self.irreps.dim
        self._irreps_str = str(self.irreps)
        self.irs = tuple((mul, ir.dim, ir.is_scalar()) for mul, ir in self.irreps)

        np_dtype = np.float64
        if self.instance:
            self.running_mean = None
            self.running_var = None
        else:
            self.running_mean = Parameter(constant(np.zeros(num_scalar, np_dtype), dtype), name="running_mean",
                                          requires_grad=False)
            self.running_var = Parameter(constant(np.ones(num_features, np_dtype), dtype), name="running_var",
                                         requires_grad=False)
        if self.affine:
            self.weight = Parameter(constant(np.ones(num_features), dtype), name="weight")
            self.bias = Parameter(constant(np.zeros(num_scalar), dtype), name="bias") if self.include_bias \
                else None
        else:
            self.weight = None
            self.bias = None
        # plan: scalar (0e) columns, their embedding back into the features, per-copy norm matrix, copy index
        scalar_index, copy_index, copy = [], [], 0
        norm_matrix = np.zeros((self._dim, num_features))
        start = 0
        for mul, ir in self.irreps:
            if ir.is_scalar():
                scalar_index += list(range(start, start + mul))
            for _ in range(mul):
                norm_matrix[start:start + ir.dim, copy] = 1.0 if normalization == "norm" else 1.0 / ir.dim
                copy_index += [copy] * ir.dim
                copy += 1
                start += ir.dim
        scalar_embed = np.zeros((num_scalar, self._dim))
        scalar_embed[np.arange(num_scalar), scalar_index] = 1.0
        self._scalar_index = ms.Tensor(np.array(scalar_index, np.int32), ms.int32)
        self._copy_index = ms.Tensor(np.array(copy_index, np.int32), ms.int32)
        self._scalar_embed = constant(scalar_embed, dtype)
        self._norm_matrix = constant(norm_matrix, dtype)
        self._eps = constant(self.eps, dtype)
        self._momentum = constant(self.momentum, dtype)
        self._one_minus_momentum = constant(1.0 - self.momentum, dtype)

    def __repr__(self):
        return f"{self.__class__.__name__} ({self.irreps}, eps={self.eps}, momentum={self.momentum})"

    def _roll_avg(self, curr, update):
        return self._one_minus_momentum * curr + self._momentum * ops.stop_gradient(update)

    def construct(self, input):  # pylint: disable=redefined-builtin
        check_last_dim(input, self._dim, self._irreps_str, "BatchNorm")
        if self._num_features == 0:
            return input
        orig_shape = input.shape
        batch = orig_shape[0]
        dim = self._dim
        x = input.reshape((batch, -1, dim))  # [batch, sample, dim]
        use_batch_stats = self.training or self.instance
        update_stats = self.training and not self.instance

        if self._num_scalar > 0:
            if use_batch_stats:
                scalars = ops.gather(x, self._scalar_index, 2)  # [batch, sample, num_scalar]
                if self.instance:
                    mean = scalars.mean(1)  # [batch, num_scalar]
                else:
                    mean = scalars.mean((0, 1))  # [num_scalar]
                    ops.assign(self.running_mean, self._roll_avg(self.running_mean, mean))
            else:
                mean = self.running_mean
            shift = ops.matmul(mean.reshape((-1, self._num_scalar)), self._scalar_embed.astype(x.dtype))
            x = x - shift.reshape((-1, 1, dim))

        if use_batch_stats:
            squared = ops.matmul((x * x).reshape((-1, dim)), self._norm_matrix.astype(x.dtype))
            squared = squared.reshape((batch, -1, self._num_features))  # [batch, sample, num_irreps]
            if self.reduce == "mean":
                field_norm = squared.mean(1)
            else:
                field_norm = ops.amax(squared, 1)  # [batch, num_irreps]
            if not self.instance:
                field_norm = field_norm.mean(0)  # [num_irreps]
                ops.assign(self.running_var, self._roll_avg(self.running_var, field_norm))
        else:
            field_norm = self.running_var

        scale = 1.0 / ops.sqrt(field_norm + self._eps.astype(x.dtype))
        if self.affine:
            scale = scale * self.weight
        scale = ops.gather(scale.reshape((-1, self._num_features)), self._copy_index, 1)  # [(batch|1), dim]
        x = x * scale.reshape((-1, 1, dim))
        if self.affine and self.include_bias and self._num_scalar > 0:
            x = x + ops.matmul(self.bias.reshape((1, self._num_scalar)), self._scalar_embed.astype(x.dtype))
        return x.reshape(orig_shape)
