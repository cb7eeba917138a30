r"""Reduced tensor products: a tensor with index symmetries, decomposed into irreps (e3nn's
``o3.ReducedTensorProducts``).

For a formula such as ``"ij=ji"`` and inputs :math:`x^{(1)}, \dots, x^{(n)}` (one per index), the output is

.. math:: y_k = \sum_{i_1 \dots i_n} Q_{k, i_1 \dots i_n} \, x^{(1)}_{i_1} \cdots x^{(n)}_{i_n}

with the change of basis :math:`Q` of e3nn 0.6.0 (same irreps, order and signs), computed once in numpy float64
by :mod:`._reduce_np` and cached. ``construct`` forms the outer product of the inputs and applies one matrix
product, which equals e3nn's chain of tensor products.
"""
import mindspore as ms
from mindspore import nn, ops

from ..util.dtype import check_float_dtype, constant
from ..util.second_order import SecondOrderGuard
from ._irreps import Irreps
from ._reduce_np import reduced_tensor_products_plan


class ReducedTensorProducts(SecondOrderGuard, nn.Cell):
    r"""Reduce a tensor with index symmetries into irreducible representations.

    Args:
        formula (str): index letters and their symmetries joined by ``=``, a ``-`` for antisymmetry, e.g.
            ``"ij=ji"``, ``"ij=-ji"``, ``"ijkl=jikl=klij"``.
        filter_ir_out (list of Irrep, optional): irreps allowed in the output.
        filter_ir_mid (list of Irrep, optional): irreps allowed in the intermediate couplings.
        eps (float): numerical threshold of the reduction. Default ``1e-9``.
        dtype (mindspore.dtype): dtype of the change of basis and of the computation (keyword). Default: the default
            dtype (``get_default_dtype()``).
        **irreps: the irreps of each index letter (indices related by the formula may be left out).

    Attributes:
        irreps_in (list of Irreps): one per index, in the order of the formula.
        irreps_out (Irreps): the output irreps.
        change_of_basis (Tensor): shape ``(irreps_out.dim, irreps_in[0].dim, ..., irreps_in[-1].dim)``.

    Inputs:
        - **\*xs** (Tensor) - one tensor per index, shape ``(..., irreps_in[i].dim)`` (batch shapes broadcast).

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)``.

    Raises:
        ValueError: malformed formula, inconsistent irreps, missing irreps, or a formula that admits only zero.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> tp = ReducedTensorProducts('ij=-ji', i='1o')
        >>> tp.irreps_out
        1x1e
        >>> x = ms.Tensor([1.0, 0.0, 0.0]); y = ms.Tensor([0.0, 1.0, 0.0])
        >>> (tp(x, y) + tp(y, x)).asnumpy().tolist()
        [0.0, 0.0, 0.0]
    """

    def __init__(self, formula, filter_ir_out=None, filter_ir_mid=None, eps=1e-9, *, dtype=None, **irreps):
        super().__init__()
        dtype = check_float_dtype(dtype)
        plan = reduced_tensor_products_plan(formula, filter_ir_out, filter_ir_mid, eps, **irreps)
        self.formula = formula
        self.irreps_in = [Irreps(irr) for irr in plan.irreps_in]
        self.irreps_out = Irreps(plan.irreps_out)
        self._dims_in = tuple(irr.dim for irr in self.irreps_in)
        self._dim_out = self.irreps_out.dim
        q = plan.change_of_basis
        self.change_of_basis = constant(q, dtype)
        self._q_t = constant(q.reshape(q.shape[0], -1).T, dtype)  # (prod dims_in, dim_out)

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(\n"
            f"    in: {' times '.join(map(repr, self.irreps_in))}\n"
            f"    out: {self.irreps_out}\n"
            ")"
        )

    def construct(self, *xs):
        if len(xs) != len(self._dims_in):
            raise ValueError(
                f"ReducedTensorProducts({self.formula!r}) takes {len(self._dims_in)} inputs "
                f"(irreps {self.irreps_in}), got {len(xs)}"
            )
        for x, d in zip(xs, self._dims_in):
            if x.shape[-1] != d:
                raise ValueError(
                    f"ReducedTensorProducts({self.formula!r}): expected inputs of last dimension {self._dims_in}, "
                    f"got shape {x.shape}"
                )
        out = xs[0]
        for x in xs[1:]:
            out = ops.expand_dims(out, -1) * ops.expand_dims(x, -2)
            out = out.reshape(out.shape[:-2] + (-1,))
        batch = out.shape[:-1]
        out = ops.matmul(out.reshape(-1, out.shape[-1]), self._q_t)
        return out.reshape(batch + (self._dim_out,))
