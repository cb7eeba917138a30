"""Ready-made tensor products: fully connected, full, elementwise and square (e3nn 0.6.0's ``_sub.py``)."""
import math

from .._irreps import Irrep, Irreps
from ._tensor_product import TensorProduct

__all__ = ["FullyConnectedTensorProduct", "FullTensorProduct", "ElementwiseTensorProduct", "TensorSquare"]


def _filter(filter_ir_out, name):
    if filter_ir_out is None:
        return None
    try:
        return [Irrep(ir) for ir in filter_ir_out]
    except (ValueError, TypeError):
        raise ValueError(f"{name}: filter_ir_out (={filter_ir_out}) must be an iterable of Irrep") from None


class FullyConnectedTensorProduct(TensorProduct):
    r"""Fully connected weighted tensor product: every allowed ``(i1, i2, i_out)`` path in ``uvw`` mode.

    .. math:: z_w = \sum_{u,v} w_{uvw}\, x_u \otimes y_v + \cdots

    Args:
        irreps_in1, irreps_in2, irreps_out (Irreps): the irreps.
        irrep_normalization, path_normalization (str, optional): see :class:`TensorProduct`.
        **kwargs: the other :class:`TensorProduct` arguments (``internal_weights``, ``shared_weights``,
            ``dtype``, ...).

    Inputs:
        - **x** (Tensor) - ``(..., irreps_in1.dim)``.
        - **y** (Tensor) - ``(..., irreps_in2.dim)``.
        - **weight** (Tensor, optional) - see :class:`TensorProduct`.

    Outputs:
        Tensor ``(..., irreps_out.dim)``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> from mindchemistry_e3.o3 import FullyConnectedTensorProduct, Irreps
        >>> tp = FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 2x1o")
        >>> tp(Irreps("2x0e + 1o").randn(4, -1), Irreps("0e + 1o").randn(4, -1)).shape
        (4, 9)
    """

    def __init__(self, irreps_in1, irreps_in2, irreps_out, irrep_normalization=None, path_normalization=None,
                 **kwargs):
        irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
        instr = [
            (i1, i2, io, "uvw", True, 1.0)
            for i1, (_, ir1) in enumerate(irreps_in1)
            for i2, (_, ir2) in enumerate(irreps_in2)
            for io, (_, ir_out) in enumerate(irreps_out)
            if ir_out in ir1 * ir2
        ]
        super().__init__(irreps_in1, irreps_in2, irreps_out, instr, irrep_normalization=irrep_normalization,
                         path_normalization=path_normalization, **kwargs)


def align_multiplicities(irreps_in1, irreps_in2):
    """Split the ``(mul, ir)`` blocks of two irreps with equal ``num_irreps`` so that block ``i`` of both has
    the same multiplicity (the pairing of an elementwise product); returns two lists of ``(mul, ir)``.

    >>> align_multiplicities(Irreps("2x1e + 2o"), Irreps("0e + 2x0o"))
    ([(1, 1e), (1, 1e), (1, 2o)], [(1, 0e), (1, 0o), (1, 0o)])
    """
    in1, in2 = [tuple(m) for m in irreps_in1], [tuple(m) for m in irreps_in2]
    i = 0
    while i < len(in1):
        (mul_1, ir_1), (mul_2, ir_2) = in1[i], in2[i]
        if mul_1 < mul_2:
            in2[i] = (mul_1, ir_2)
            in2.insert(i + 1, (mul_2 - mul_1, ir_2))
        if mul_2 < mul_1:
            in1[i] = (mul_2, ir_1)
            in1.insert(i + 1, (mul_1 - mul_2, ir_1))
        i += 1
    return in1, in2


class ElementwiseTensorProduct(TensorProduct):
    r"""Elementwise tensor product :math:`z_u = x_u \otimes y_u` (no weights).

    Both inputs must have the same number of irreps; the blocks are split so that multiplicities match.

    Args:
        irreps_in1, irreps_in2 (Irreps): the inputs.
        filter_ir_out (list[Irrep], optional): keep only these output irreps.
        irrep_normalization (str, optional): see :class:`TensorProduct`.
        **kwargs: the other :class:`TensorProduct` arguments (``dtype``, ...).

    Inputs:
        - **x** (Tensor) - ``(..., irreps_in1.dim)``.
        - **y** (Tensor) - ``(..., irreps_in2.dim)``.

    Outputs:
        Tensor ``(..., irreps_out.dim)``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> from mindchemistry_e3.o3 import ElementwiseTensorProduct
        >>> ElementwiseTensorProduct("5x1o + 5x1e", "10x1e", ["0e", "0o"])
        ElementwiseTensorProduct(5x1o+5x1e x 10x1e -> 5x0o+5x0e | 10 paths | 0 weights)
    """

    def __init__(self, irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irreps_in1 = Irreps(irreps_in1).simplify()
        irreps_in2 = Irreps(irreps_in2).simplify()
        filter_ir_out = _filter(filter_ir_out, "ElementwiseTensorProduct")
        if irreps_in1.num_irreps != irreps_in2.num_irreps:
            raise ValueError(f"ElementwiseTensorProduct: {irreps_in1} and {irreps_in2} must have the same number of "
                             f"irreps ({irreps_in1.num_irreps} != {irreps_in2.num_irreps})")
        in1, in2 = align_multiplicities(irreps_in1, irreps_in2)
        out, instr = [], []
        for i, ((mul, ir_1), (_, ir_2)) in enumerate(zip(in1, in2)):
            for ir in ir_1 * ir_2:
                if filter_ir_out is not None and ir not in filter_ir_out:
                    continue
                instr.append((i, i, len(out), "uuu", False))
                out.append((mul, ir))
        super().__init__(in1, in2, out, instr, irrep_normalization=irrep_normalization, **kwargs)


class FullTensorProduct(TensorProduct):
    r"""Full tensor product :math:`z_{uv} = x_u \otimes y_v` (no weights), output irreps sorted.

    Args:
        irreps_in1, irreps_in2 (Irreps): the inputs.
        filter_ir_out (list[Irrep], optional): keep only these output irreps.
        irrep_normalization (str, optional): see :class:`TensorProduct`.
        **kwargs: the other :class:`TensorProduct` arguments (``dtype``, ...).

    Inputs:
        - **x** (Tensor) - ``(..., irreps_in1.dim)``.
        - **y** (Tensor) - ``(..., irreps_in2.dim)``.

    Outputs:
        Tensor ``(..., irreps_out.dim)``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> from mindchemistry_e3.o3 import FullTensorProduct
        >>> FullTensorProduct("2x1o", "1o + 0e").irreps_out
        2x0e+2x1o+2x1e+2x2e
    """

    def __init__(self, irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irreps_in1 = Irreps(irreps_in1).simplify()
        irreps_in2 = Irreps(irreps_in2).simplify()
        filter_ir_out = _filter(filter_ir_out, "FullTensorProduct")
        out, instr = [], []
        for i1, (mul_1, ir_1) in enumerate(irreps_in1):
            for i2, (mul_2, ir_2) in enumerate(irreps_in2):
                for ir_out in ir_1 * ir_2:
                    if filter_ir_out is not None and ir_out not in filter_ir_out:
                        continue
                    instr.append((i1, i2, len(out), "uvuv", False))
                    out.append((mul_1 * mul_2, ir_out))
        out, p, _ = Irreps(out).sort()
        instr = [(i1, i2, p[io], mode, train) for i1, i2, io, mode, train in instr]
        super().__init__(irreps_in1, irreps_in2, out, instr, irrep_normalization=irrep_normalization, **kwargs)


def _alpha(irrep_normalization, ir_1, ir_2, ir_out, same):
    """e3nn's normalisation of a square path (``same``: the symmetric u == v part of ``i1 == i2``)."""
    if not same:
        return {"component": ir_out.dim, "norm": ir_1.dim * ir_2.dim, "none": 1}[irrep_normalization]
    if irrep_normalization == "component":
        return ir_out.dim / (ir_1.dim + 2) if ir_out.l == 0 else ir_out.dim / 2
    if irrep_normalization == "norm":
        return ir_out.dim * ir_1.dim if ir_out.l == 0 else ir_1.dim * (ir_1.dim + 2) / 2
    return 1


class TensorSquare(TensorProduct):
    r"""Square tensor product :math:`x \otimes x`, reduced to irreps (e3nn 0.6.0's ``TensorSquare``).

    Without ``irreps_out`` it has no weights (like a full tensor product restricted to independent pairs);
    with ``irreps_out`` it is fully connected and weighted.

    Args:
        irreps_in (Irreps): the input.
        irreps_out (Irreps, optional): the output (fully connected, weighted).
        filter_ir_out (list[Irrep], optional): keep only these output irreps (only without ``irreps_out``).
        irrep_normalization (str, optional): ``'component'`` (default), ``'norm'`` or ``'none'``.
        **kwargs: the other :class:`TensorProduct` arguments (``dtype``, ...).

    Inputs:
        - **x** (Tensor) - ``(..., irreps_in.dim)``.
        - **weight** (Tensor, optional) - see :class:`TensorProduct`.

    Outputs:
        Tensor ``(..., irreps_out.dim)``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> from mindchemistry_e3.o3 import TensorSquare, Irreps
        >>> ts = TensorSquare("2x1o")
        >>> ts.irreps_out
        1x0e+2x0e+1x1e+1x2e+2x2e
        >>> ts(Irreps("2x1o").randn(3, -1)).shape
        (3, 21)
    """

    def __init__(self, irreps_in, irreps_out=None, filter_ir_out=None, irrep_normalization=None, **kwargs):
        if irrep_normalization is None:
            irrep_normalization = "component"
        if irrep_normalization not in ("component", "norm", "none"):
            raise ValueError(f"TensorSquare({irreps_in}): irrep_normalization must be one of component, norm, none; "
                             f"got {irrep_normalization!r}")
        irreps_in = Irreps(irreps_in).simplify()
        filter_ir_out = _filter(filter_ir_out, f"TensorSquare({irreps_in})")
        instr = []
        if irreps_out is None:
            out = []
            for i1, (mul_1, ir_1) in enumerate(irreps_in):
                for i2, (mul_2, ir_2) in enumerate(irreps_in):
                    for ir_out in ir_1 * ir_2:
                        if filter_ir_out is not None and ir_out not in filter_ir_out:
                            continue
                        alpha = _alpha(irrep_normalization, ir_1, ir_2, ir_out, False)
                        if i1 < i2:
                            instr.append((i1, i2, len(out), "uvuv", False, alpha))
                            out.append((mul_1 * mul_2, ir_out))
                        elif i1 == i2:
                            if mul_1 > 1:
                                instr.append((i1, i1, len(out), "uvu<v", False, alpha))
                                out.append((mul_1 * (mul_1 - 1) // 2, ir_out))
                            if ir_out.l % 2 == 0:
                                alpha = _alpha(irrep_normalization, ir_1, ir_2, ir_out, True)
                                instr.append((i1, i1, len(out), "uuu", False, alpha))
                                out.append((mul_1, ir_out))
            irreps_out, p, _ = Irreps(out).sort()
            instr = [(i1, i2, p[io], mode, train, alpha) for i1, i2, io, mode, train, alpha in instr]
        else:
            if filter_ir_out is not None:
                raise ValueError(f"TensorSquare({irreps_in}): both irreps_out and filter_ir_out are given; "
                                 f"this is ambiguous")
            irreps_out = Irreps(irreps_out).simplify()
            for i1, (mul_1, ir_1) in enumerate(irreps_in):
                for i2, (_, ir_2) in enumerate(irreps_in):
                    for io, (_, ir_out) in enumerate(irreps_out):
                        if ir_out not in ir_1 * ir_2:
                            continue
                        alpha = _alpha(irrep_normalization, ir_1, ir_2, ir_out, False)
                        if i1 < i2:
                            instr.append((i1, i2, io, "uvw", True, alpha))
                        elif i1 == i2:
                            if mul_1 > 1:
                                instr.append((i1, i1, io, "u<vw", True, alpha))
                            if ir_out.l % 2 == 0:
                                alpha = _alpha(irrep_normalization, ir_1, ir_2, ir_out, True)
                                instr.append((i1, i1, io, "uuw", True, alpha))
        super().__init__(irreps_in, irreps_in, irreps_out, instr, irrep_normalization="none", **kwargs)
        self.irreps_in = irreps_in

    def __repr__(self):
        npath = sum(math.prod(i.path_shape) for i in self.instructions)
        return (f"{type(self).__name__}({self.irreps_in} -> {self.irreps_out.simplify()} | {npath} paths | "
                f"{self.weight_numel} weights)")

    def construct(self, x, weight=None):  # pylint: disable=arguments-differ
        return super().construct(x, x, weight)
