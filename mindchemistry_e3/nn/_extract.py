r"""Extract sub-sets of irreps from a feature vector: :class:`Extract` and :class:`ExtractIr`.

Output ``k`` is the concatenation of the input blocks ``instructions[k]`` (indices into ``irreps_in``), in that
order. The plan (contiguous input ranges per output) is built once in Python; ``construct`` only slices
``x[..., a:b]`` and concatenates.

>>> import numpy as np, mindspore as ms
>>> c = Extract('1e + 0e + 0e', ['0e', '0e'], [(1,), (2,)])
>>> [t.asnumpy().tolist() for t in c(ms.Tensor(np.array([0.0, 0.0, 0.0, 1.0, 2.0]), ms.float32))]
[[1.0], [2.0]]
"""
import mindspore as ms
from mindspore import nn, ops

from ..o3._irreps import Irrep, Irreps
from ..util.dtype import check_float_dtype
from ..util.second_order import SecondOrderGuard


def check_last_dim(x, dim, irreps, cell_name):
    """Raise a ValueError unless ``x.shape[-1] == dim`` (static shapes: checked at trace/compile time)."""
    if x.shape[-1] != dim:
        raise ValueError(f"{cell_name}: input of irreps {irreps} needs a last axis of size {dim}, "
                         f"got shape {x.shape}")


def _merge_ranges(ranges):
    """Merge touching ``(start, stop)`` ranges: ``[(0, 2), (2, 5), (7, 8)]`` -> ``((0, 5), (7, 8))``."""
    out = []
    for start, stop in ranges:
        if stop == start:
            continue
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return tuple(out)


def extract_plan(irreps_in, irreps_outs, instructions):
    """For each output, the merged input ranges to concatenate (pure Python, validated).

    >>> extract_plan(Irreps("1e + 0e + 0e"), [Irreps("0e + 0e")], [(1, 2)])
    (((3, 5),),)
    """
    if len(irreps_outs) != len(instructions):
        raise ValueError(f"Extract: {len(irreps_outs)} irreps_outs but {len(instructions)} instructions")
    starts = [s.start for s in irreps_in.slices()]
    plan = []
    for irreps_out, ins in zip(irreps_outs, instructions):
        ins = tuple(ins)
        if len(irreps_out) != len(ins):
            raise ValueError(f"Extract: irreps_out {irreps_out} has {len(irreps_out)} blocks but its instruction "
                             f"{ins} names {len(ins)}")
        ranges = []
        for mul_ir, i_in in zip(irreps_out, ins):
            if not isinstance(i_in, int) or not 0 <= i_in < len(irreps_in):
                raise ValueError(f"Extract: instruction index {i_in!r} out of range for irreps_in {irreps_in} "
                                 f"({len(irreps_in)} blocks)")
            if tuple(irreps_in[i_in]) != tuple(mul_ir):
                raise ValueError(f"Extract: block {i_in} of irreps_in {irreps_in} is {irreps_in[i_in]}, but the "
                                 f"output expects {mul_ir}")
            ranges.append((starts[i_in], starts[i_in] + mul_ir.dim))
        plan.append(_merge_ranges(ranges))
    return tuple(plan)


class Extract(SecondOrderGuard, nn.Cell):
    r"""Extract sub-sets of irreps.

    Args:
        irreps_in (Union[str, Irreps]): representation of the input.
        irreps_outs (list[Union[str, Irreps]]): representation of each output.
        instructions (list[tuple[int]]): one tuple per output, giving for each of its blocks the index of the
            ``irreps_in`` block it copies.
        squeeze_out (bool): if True and there is a single output, return a Tensor instead of a 1-tuple.
        dtype (mindspore.dtype): keyword-only, only used for empty outputs (default: the default dtype
            (``get_default_dtype()``)).

    Inputs:
        - **x** (Tensor) - shape ``(..., irreps_in.dim)``.

    Outputs:
        tuple of Tensors of shapes ``(..., irreps_outs[k].dim)`` (or one Tensor when squeezed).

    Raises:
        ValueError: if instructions do not match ``irreps_outs`` or name a block of another irrep/multiplicity.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> c = Extract('1e + 0e + 0e', ['0e', '0e'], [(1,), (2,)])
        >>> len(c(ms.Tensor(np.zeros((4, 5)), ms.float32)))
        2
    """

    def __init__(self, irreps_in, irreps_outs, instructions, squeeze_out=False, *, dtype=None):
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.irreps_outs = tuple(Irreps(irreps) for irreps in irreps_outs)
        self.instructions = [tuple(ins) for ins in instructions]
        self.squeeze_out = bool(squeeze_out)
        self.dtype = dtype = check_float_dtype(dtype)
        self._plan = extract_plan(self.irreps_in, self.irreps_outs, self.instructions)
        self._dim_in = self.irreps_in.dim
        self._irreps_str = str(self.irreps_in)
        self._full = tuple(ranges == ((0, self._dim_in),) for ranges in self._plan)

    def __repr__(self):
        return f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_outs})"

    def _one(self, x, ranges):
        if not ranges:
            return ops.zeros(x.shape[:-1] + (0,), x.dtype)
        if len(ranges) == 1:
            return x[..., ranges[0][0]:ranges[0][1]]
        return ops.concat([x[..., a:b] for (a, b) in ranges], -1)

    def construct(self, x):
        check_last_dim(x, self._dim_in, self._irreps_str, "Extract")
        out = []
        for ranges in self._plan:
            out.append(self._one(x, ranges))
        if self.squeeze_out and len(out) == 1:
            return out[0]
        return tuple(out)


class ExtractIr(Extract):
    r"""Extract every block of irrep ``ir`` from ``irreps_in`` (a single output, squeezed).

    Args:
        irreps_in (Union[str, Irreps]): representation of the input.
        ir (Union[str, Irrep]): the irrep to extract.
        dtype (mindspore.dtype): keyword-only, see :class:`Extract`.

    Inputs:
        - **x** (Tensor) - shape ``(..., irreps_in.dim)``.

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)`` with ``irreps_out`` the blocks of ``ir``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> e = ExtractIr("2x0e + 1o + 3x0e", "0e")
        >>> e.irreps_out, e(ms.Tensor(np.arange(8.0), ms.float32)).asnumpy().tolist()
        (2x0e+3x0e, [0.0, 1.0, 5.0, 6.0, 7.0])
    """

    def __init__(self, irreps_in, ir, *, dtype=None):
        ir = Irrep(ir)
        irreps_in = Irreps(irreps_in)
        irreps_out = Irreps([mul_ir for mul_ir in irreps_in if mul_ir.ir == ir])
        instructions = [tuple(i for i, mul_ir in enumerate(irreps_in) if mul_ir.ir == ir)]
        super().__init__(irreps_in, [irreps_out], instructions, squeeze_out=True, dtype=dtype)
        self.irreps_out = irreps_out
