r"""Cartesian tensors (every index a vector, ``1o``) as irreps, e3nn's ``io.CartesianTensor``.

``from_cartesian`` applies the change of basis :math:`Q` of :class:`~mindchemistry_e3.o3.ReducedTensorProducts`
to the flattened tensor, ``to_cartesian`` its transpose (the symmetry-aware inverse). :math:`Q` is computed once
per formula in numpy float64 and cached. Integer (or boolean) data and numpy arrays are converted to the default
dtype first (the coefficients of :math:`Q` are irrational: an integer result would be wrong).
"""
import functools

import numpy as np
import mindspore as ms
from mindspore import ops

from ..o3._irreps import Irreps
from ..o3._reduce_np import reduced_tensor_products_plan
from ..util.dtype import FLOAT_DTYPES, check_float_dtype, constant


def _as_float(data):
    """``data`` as a floating Tensor: numpy / integer / boolean input becomes the default dtype."""
    if not isinstance(data, ms.Tensor):
        data = ms.Tensor(np.asarray(data))
    if data.dtype not in FLOAT_DTYPES:
        return data.astype(check_float_dtype(None))
    return data


def _indices(formula):
    if not isinstance(formula, str) or not formula:
        raise ValueError(f"formula must be a non-empty string such as 'ij=ji', got {formula!r}")
    return formula.split("=")[0].replace("-", "")


@functools.lru_cache(maxsize=None)
def _q_tensor(formula, indices, dtype):
    """``Q`` flattened to ``(dim, 3**n)`` as a Tensor of ``dtype``, built once per (formula, dtype)."""
    q = reduced_tensor_products_plan(formula, **{i: "1o" for i in indices}).change_of_basis
    return constant(q.reshape(q.shape[0], -1), dtype)


class CartesianTensor(Irreps):
    r"""The irreps of a Cartesian tensor with index symmetries; an :class:`~mindchemistry_e3.o3.Irreps`.

    Args:
        formula (str): index symmetries, e.g. ``"ij=ji"`` (symmetric matrix), ``"ij=-ji"``,
            ``"ijkl=jikl=klij"``. Every index is a vector (``1o``).

    The conversion methods run eagerly (PyNative or plain calls); inside a compiled graph use the Cell returned
    by :meth:`reduced_tensor_products`, or its ``change_of_basis``.

    Raises:
        ValueError: if the formula is malformed or admits only the zero tensor.

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> CartesianTensor("ij=-ji")
        1x1e
        >>> x = CartesianTensor("ij=ji")
        >>> t = ms.Tensor(np.arange(9.0).reshape(3, 3))
        >>> z = x.to_cartesian(x.from_cartesian(t))
        >>> bool(np.allclose(z.asnumpy(), (t.asnumpy() + t.asnumpy().T) / 2))
        True
        >>> x.from_cartesian(ms.Tensor(np.eye(3, dtype=np.int32))).dtype     # integers: the default dtype
        mindspore.float32
    """

    formula: str
    indices: str

    def __new__(cls, formula):
        indices = _indices(formula)
        plan = reduced_tensor_products_plan(formula, **{i: "1o" for i in indices})
        ret = super().__new__(cls, Irreps(plan.irreps_out))
        ret.formula = formula
        ret.indices = indices
        return ret

    def _q(self, data, rtp):
        if rtp is None:
            return _q_tensor(self.formula, self.indices, data.dtype)
        shape = tuple(rtp.change_of_basis.shape)
        if shape != (self.dim,) + (3,) * len(self.indices):
            raise ValueError(f"CartesianTensor({self.formula!r}): rtp has a change of basis of shape {shape}")
        return rtp.change_of_basis.reshape(self.dim, -1).astype(data.dtype)

    def from_cartesian(self, data, rtp=None):
        r"""Cartesian tensor ``(..., 3, 3, ...)`` -> irreps ``(..., self.dim)``.

        Examples:
            >>> import mindspore as ms
            >>> CartesianTensor("ijk=-jik=-ikj").from_cartesian(ms.ops.ones((3, 3, 3), ms.float32)).asnumpy()
            array([0.], dtype=float32)
        """
        n = len(self.indices)
        data = _as_float(data)
        if data.ndim < n or tuple(data.shape[data.ndim - n:]) != (3,) * n:
            raise ValueError(
                f"CartesianTensor({self.formula!r}) expects data of shape (..., {', '.join(['3'] * n)}), "
                f"got {data.shape}"
            )
        q = self._q(data, rtp)
        batch = data.shape[:data.ndim - n]
        out = ops.matmul(data.reshape(-1, 3 ** n), q.T)
        return out.reshape(batch + (self.dim,))

    def from_vectors(self, *xs, rtp=None):
        r"""Irreps of :math:`x_1 \otimes x_2 \otimes \cdots` for vectors ``(..., 3)``.

        Examples:
            >>> import mindspore as ms
            >>> x = CartesianTensor("ijk=-jik=-ikj")
            >>> v = ms.ops.ones(3, ms.float32)
            >>> x.from_vectors(v, v, v).asnumpy()
            array([0.], dtype=float32)
        """
        if rtp is None:
            rtp = self.reduced_tensor_products(xs[0])
        return rtp(*xs)

    def to_cartesian(self, data, rtp=None):
        r"""Irreps ``(..., self.dim)`` -> Cartesian tensor ``(..., 3, 3, ...)`` (inverse of
        :meth:`from_cartesian` on symmetric tensors).

        Examples:
            >>> import mindspore as ms
            >>> CartesianTensor("ij=-ji").to_cartesian(ms.Tensor([0.0, 0.0, 1.0])).shape
            (3, 3)
        """
        n = len(self.indices)
        data = _as_float(data)
        if data.ndim < 1 or data.shape[-1] != self.dim:
            raise ValueError(
                f"CartesianTensor({self.formula!r}) with irreps {Irreps(self)} expects data of shape "
                f"(..., {self.dim}), got {data.shape}"
            )
        q = self._q(data, rtp)
        out = ops.matmul(data.reshape(-1, self.dim), q)
        return out.reshape(data.shape[:-1] + (3,) * n)

    def reduced_tensor_products(self, data=None):
        r"""The :class:`~mindchemistry_e3.o3.ReducedTensorProducts` of this formula (every index ``1o``), in the
        dtype of ``data`` (the default dtype if ``data`` is None or not floating).

        Examples:
            >>> CartesianTensor("ij=ji").reduced_tensor_products().irreps_out
            1x0e+1x2e
        """
        from ..o3._reduce import ReducedTensorProducts

        dtype = check_float_dtype(None) if data is None else _as_float(data).dtype
        return ReducedTensorProducts(self.formula, dtype=dtype, **{i: "1o" for i in self.indices})
