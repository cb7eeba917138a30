r"""Batch normalisation for orthonormal representations (e3nn's ``BatchNorm``).

For each irrep block (``mul`` copies of dimension ``d``) of an input ``(batch, ..., dim)`` seen as
``(batch, sample, mul, d)``:

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
from ._extract import check_last_dim


class BatchNorm(nn.Cell):
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
        dtype (mindspore.dtype): keyword-only, dtype of parameters and constants (float32 default).

    Inputs:
        - **input** (Tensor) - shape ``(batch, ..., irreps.dim)``.

    Outputs:
        Tensor of the same shape.

    Raises:
        ValueError: for an unknown ``reduce`` / ``normalization`` or a wrong last axis.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> bn = BatchNorm("3x0e + 2x1o", momentum=0.5); _ = bn.set_train(True)
        >>> _ = bn(ms.Tensor(np.random.randn(16, 9), ms.float32))
        >>> bn.running_mean.shape, bn.running_var.shape
        ((3,), (5,))
    """

    def __init__(self, irreps, eps=1e-5, momentum=0.1, affine=True, reduce="mean", instance=False,
                 include_bias=True, normalization="component", *, dtype=ms.float32):
        super().__init__()
        self.irreps = Irreps(irreps)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.affine = bool(affine)
        self.instance = bool(instance)
        self.include_bias = bool(include_bias)
        self.dtype = check_float_dtype(dtype)
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
        self._eps = constant(self.eps, dtype)
        self._momentum = constant(self.momentum, dtype)
        self._one_minus_momentum = constant(1.0 - self.momentum, dtype)

    def __repr__(self):
        return f"{self.__class__.__name__} ({self.irreps}, eps={self.eps}, momentum={self.momentum})"

    def _roll_avg(self, curr, update):
        return self._one_minus_momentum * curr + self._momentum * ops.stop_gradient(update)

    def _field_norm(self, field):
        if self.normalization == "norm":
            field_norm = (field * field).sum(3)  # [batch, sample, mul]
        else:
            field_norm = (field * field).mean(3)
        if self.reduce == "mean":
            field_norm = field_norm.mean(1)  # [batch, mul]
        else:
            field_norm = ops.amax(field_norm, 1)
        return field_norm

    def construct(self, input):  # pylint: disable=redefined-builtin
        check_last_dim(input, self._dim, self._irreps_str, "BatchNorm")
        orig_shape = input.shape
        batch = orig_shape[0]
        dim = orig_shape[-1]
        x = input.reshape((batch, -1, dim))  # [batch, sample, dim]
        use_batch_stats = self.training or self.instance
        update_stats = self.training and not self.instance

        new_means = []
        new_vars = []
        fields = []
        ix = 0
        irm = 0
        irv = 0
        iw = 0
        ib = 0
        for mul, d, is_scalar in self.irs:
            field = x[:, :, ix:ix + mul * d].reshape((batch, -1, mul, d))
            ix += mul * d
            if is_scalar:
                if use_batch_stats:
                    if self.instance:
                        field_mean = field.mean(1).reshape((batch, mul))
                    else:
                        field_mean = field.mean((0, 1)).reshape((mul,))
                        new_means.append(self._roll_avg(self.running_mean[irm:irm + mul], field_mean))
                else:
                    field_mean = self.running_mean[irm:irm + mul]
                irm += mul
                field = field - field_mean.reshape((-1, 1, mul, 1))

            if use_batch_stats:
                field_norm = self._field_norm(field)  # [batch, mul]
                if not self.instance:
                    field_norm = field_norm.mean(0)  # [mul]
                    new_vars.append(self._roll_avg(self.running_var[irv:irv + mul], field_norm))
            else:
                field_norm = self.running_var[irv:irv + mul]
            irv += mul

            field_norm = 1.0 / ops.sqrt(field_norm + self._eps)
            if self.affine:
                field_norm = field_norm * self.weight[iw:iw + mul]
                iw += mul
            field = field * field_norm.reshape((-1, 1, mul, 1))
            if self.affine and self.include_bias and is_scalar:
                field = field + self.bias[ib:ib + mul].reshape((mul, 1))
                ib += mul
            fields.append(field.reshape((batch, -1, mul * d)))

        if update_stats:
            if new_means:
                ops.assign(self.running_mean, new_means[0] if len(new_means) == 1 else ops.concat(new_means, 0))
            if new_vars:
                ops.assign(self.running_var, new_vars[0] if len(new_vars) == 1 else ops.concat(new_vars, 0))
        if not fields:
            return input
        output = fields[0] if len(fields) == 1 else ops.concat(fields, 2)
        return output.reshape(orig_shape)
