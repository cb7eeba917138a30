r"""Equivariant linear layer :class:`Linear` (e3nn's ``o3.Linear``) as a MindSpore Cell.

The maths and the lowering live in numpy plans (:mod:`._linear_plan`, :mod:`._stacked_np`). Shared weights
without channels (the common case) run as **one** BatchMatMul over the output components
(:func:`~mindchemistry_e3.o3._linear_plan.linear_stacked_plan`): a column gather and a transpose in, the product
with the block weights gathered from the flat weight, a transpose and a column gather out -- a fixed handful of
ops whatever the number of irreps, which keeps MindSpore's compile short (on CPU: one native kernel per derivative
order, :mod:`._stacked_cpu`). Channels (``f_in``/``f_out``) and
per-sample weights run the per-irrep lowering: one MatMul per irrep, a 2-D ``(B*d, K) @ (K, M)`` for shared
weights and a ``BatchMatMul`` for per-sample weights.
"""
import mindspore as ms
import numpy as np
from mindspore import nn, ops
from mindspore.common.initializer import Normal, initializer

from ..util._cell import PlanCell, broadcast_shape, plan_tensors, prod as _prod
from ..util.dtype import constant
from ._irreps import Irreps
from ._linear_plan import linear_plan, linear_stack_terms, linear_stacked_plan
from ._stacked import STACKED_MAX_SIZE, stacked_matmul, stacked_native


_STACKED_MAX_SIZE = STACKED_MAX_SIZE  # (a module global: tests lower it)
# The fused CPU kernels of the stacked plan take rows a register block at a time, so they stay the faster lowering at
# any size (W4, 20,000 x 576 features, AVX2: forward 63 -> 49 ms, forward+backward 114 -> 80 ms against per irrep).
_NATIVE_MAX_SIZE = 1 << 62


class SplitLastAxis(nn.Cell):
    """Split the last axis into consecutive pieces of the given ``sizes`` (which cover it).

    Its backward is one concatenation of the pieces' gradients: MindSpore's own gradient of slicing writes one
    full-size zero tensor per piece and adds them up (about twice slower on a 20,000 x 576 input). The
    backward is itself differentiable, so second-order gradients work (graph mode).

    Inputs:
        - **x** (Tensor) - shape ``(..., sum(sizes))``.

    Outputs:
        tuple of Tensors ``(..., sizes[i])``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> [p.shape for p in SplitLastAxis((1, 3))(ms.ops.ones((2, 4), ms.float32))]
        [(2, 1), (2, 3)]
    """

    def __init__(self, sizes):
        super().__init__()
        self.bounds = tuple((sum(sizes[:i]), sum(sizes[:i + 1])) for i in range(len(sizes)))

    def construct(self, x):
        return tuple(x[..., a:b] for a, b in self.bounds)

    def bprop(self, x, out, dout):
        if len(dout) == 1:
            return (dout[0],)
        return (ops.concat(dout, axis=-1),)


class Linear(PlanCell):
    r"""Linear map between direct sums of irreps, equivariant to :math:`O(3)` (e3nn 0.6.0's ``o3.Linear``).

    Every instruction ``(i_in, i_out)`` maps block ``i_in`` of the input to block ``i_out`` of the output (same
    irrep) with a ``(mul_in, mul_out)`` weight matrix, normalised by the fan-in of the output block; optional
    biases are added to scalar (``0e``) outputs. Weights are e3nn's flat layout.

    Args:
        irreps_in (Irreps): representation of the input.
        irreps_out (Irreps): representation of the output.
        f_in (int, optional): number of input channels; the input is then ``(..., f_in, irreps_in.dim)``.
            Give ``f_out`` too.
        f_out (int, optional): number of output channels; the output is ``(..., f_out, irreps_out.dim)``.
        internal_weights (bool, optional): keep the weights in a Parameter ``weight``. Defaults to ``True``
            unless ``shared_weights=False``.
        shared_weights (bool, optional): one weight for the whole batch (default ``True``); ``False`` takes
            per-sample weights ``(..., weight_numel)`` as the second input.
        instructions (list[tuple[int, int]], optional): the ``(i_in, i_out)`` paths; default every pair of
            blocks carrying the same irrep.
        biases (bool or list[bool]): ``True`` puts a bias on every scalar output block; a list chooses per
            output block. Biases start at zero (Parameter ``bias``).
        path_normalization (str): ``'element'`` (fan-in counts every input multiplicity feeding the output
            block) or ``'path'`` (each path normalised by its own fan-in times the number of paths).
        dtype (mindspore.dtype): dtype of Parameters and constants, default: the default dtype
            (``get_default_dtype()``) (keyword only).
        compute_dtype (mindspore.dtype, optional): ``mindspore.float16`` or ``mindspore.bfloat16``: the operands of
            the MatMuls in that dtype, their results, the biases and the output in ``dtype``
            (:mod:`mindchemistry_e3.util.precision`); keyword only. Default None.

    Inputs:
        - **features** (Tensor) - shape ``(..., irreps_in.dim)``, or ``(..., f_in, irreps_in.dim)``.
        - **weight** (Tensor, optional) - ``([f_in, f_out,] weight_numel)`` when shared, or
          ``(..., [f_in, f_out,] weight_numel)`` per sample (leading axes broadcast with the input's).
          Required when ``internal_weights=False``.
        - **bias** (Tensor, optional) - ``([f_out,] bias_numel)``; required when there are biases and
          ``internal_weights=False``.

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)``, or ``(..., f_out, irreps_out.dim)``.

    Raises:
        ValueError: unknown ``path_normalization``, an instruction index out of range or between different
            irreps, a bias on a non-scalar output, ``internal_weights`` without ``shared_weights``, or an input,
            weight or bias of the wrong shape.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> lin = Linear("4x0e + 16x1o", "8x0e + 8x1o")
        >>> lin.weight_numel
        160
        >>> lin(ms.ops.ones((2, 52), ms.float32)).shape
        (2, 32)
    """

    def __init__(self, irreps_in, irreps_out, *, f_in=None, f_out=None, internal_weights=None,
                 shared_weights=None, instructions=None, biases=False, path_normalization="element",
                 dtype=None, compute_dtype=None, _optimize_einsums=None):
        irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        super().__init__(f"Linear({irreps_in} -> {irreps_out})", dtype, compute_dtype)
        self.irreps_in = irreps_in
        self.irreps_out = irreps_out
        dtype = self.dtype

        if shared_weights is False and internal_weights is None:
            internal_weights = False
        if shared_weights is None:
            shared_weights = True
        if internal_weights is None:
            internal_weights = True
        if internal_weights and not shared_weights:
            raise ValueError(f"{self._name}: internal_weights=True requires shared_weights=True")
        self.internal_weights = bool(internal_weights)
        self.shared_weights = bool(shared_weights)

        plan = linear_plan(self.irreps_in, self.irreps_out, f_in=f_in, f_out=f_out, instructions=instructions,
                           biases=biases, path_normalization=path_normalization)
        self.plan = plan
        self.instructions = plan.instructions
        self.weight_numel = plan.weight_numel
        self.bias_numel = plan.bias_numel
        self.f_in = f_in
        self.f_out = f_out
        self._fi = 1 if f_in is None else int(f_in)
        self._fo = 1 if f_out is None else int(f_out)
        self._dim_in = self.irreps_in.dim
        self._dim_out = self.irreps_out.dim
        self._weight_shape = ((self._fi, self._fo) if f_in is not None else ()) + (self.weight_numel,)
        self._bias_shape = ((self._fo,) if f_out is not None else ()) + (self.bias_numel,)
        self._size = self._fi * self._fo * self.weight_numel
        self.output_mask = constant(plan.output_mask, dtype)

        # the per-irrep lowering (channels, per-sample weights) reads its typed plan field by field in construct
        self._plan = plan_tensors(plan.execution(), dtype)
        self._has_bias = self.bias_numel > 0
        self._bias_index = ms.Tensor(plan.bias_index.astype(np.int32))
        self._in_sizes = self._plan.in_sizes
        self._split_in = SplitLastAxis(self._in_sizes)
        self._bmm_ta = self.product(ops.BatchMatMul(transpose_a=True))
        # shared weights without channels: one BatchMatMul over the output components
        self._stacked = None
        self._stacked_native = None  # its fused CPU kernels, where they apply
        if f_in is None and self.shared_weights and self.weight_numel > 0:
            stacked = linear_stacked_plan(plan)
            if stacked is not None:
                self._stacked = plan_tensors(stacked, dtype)
                self._stacked_native = stacked_native(stacked, self.dtype, self.compute_dtype, [self.weight_numel])

        if self.internal_weights and self.weight_numel > 0:
            self.weight = ms.Parameter(initializer(Normal(sigma=1.0), self._weight_shape, dtype), name="weight")
        else:
            self.weight = None
        if self.internal_weights and self.bias_numel > 0:
            self.bias = ms.Parameter(initializer("zeros", self._bias_shape, dtype), name="bias")
        else:
            self.bias = None

    def __repr__(self):
        return f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out} | {self.weight_numel} weights)"

    # ---------------------------------------------------------------------------------------------------
    def _check_features(self, x):
        if self.f_in is None:
            if x.ndim < 1 or x.shape[-1] != self._dim_in:
                raise ValueError(f"{self._name}: expected features of shape (..., {self._dim_in}), "
                                 f"got {x.shape}")
        elif x.ndim < 2 or x.shape[-1] != self._dim_in or x.shape[-2] != self._fi:
            raise ValueError(f"{self._name}: expected features of shape (..., {self._fi}, {self._dim_in}), "
                             f"got {x.shape}")

    def construct(self, features, weight=None, bias=None):
        self._check_features(features)
        self.check_dtype(features)
        limit = _STACKED_MAX_SIZE if self._stacked_native is None else _NATIVE_MAX_SIZE
        if (self._stacked is not None and (weight is None or weight.shape == (self.weight_numel,))
                and features.size <= limit):
            return self._forward_stacked(features, weight, bias)
        return self._forward(features, weight, bias)

    def stack_terms(self):
        """The map as :class:`~mindchemistry_e3.o3._stacked_np.StackTerms` of its input features (to be summed with
        others in :class:`~mindchemistry_e3.o3.StackedSum`); None with channels, per-sample weights, biases or no
        weights."""
        if self._stacked is None or self._has_bias:
            return None
        return linear_stack_terms(self.plan)

    def _forward_stacked(self, features, weight, bias):
        """Shared weights, no channels: one BatchMatMul ``[C, B, X] @ [C, X, M]`` over the output components."""
        batch = features.shape[:-1]
        b = _prod(batch)
        if b == 0:
            return ops.zeros(batch + (self._dim_out,), features.dtype)
        y = stacked_matmul(features if len(batch) == 1 else features.reshape(b, self._dim_in),
                           self.weight if weight is None else weight, self._stacked, self._matmul, self._bmm_ta,
                           self._stacked_native)
        if self._has_bias:
            y = y + self._bias_full(self.bias if bias is None else bias)
        return y if len(batch) == 1 else y.reshape(batch + (self._dim_out,))

    def _bias_full(self, bias):
        """The flat bias ``([f_out,] bias_numel)`` scattered onto the output components (zeros elsewhere)."""
        bflat = bias.reshape(bias.shape[:len(bias.shape) - len(self._bias_shape)] + (self._fo * self.bias_numel,))
        bz = ops.concat([bflat, ops.zeros(bflat.shape[:-1] + (1,), bflat.dtype)], axis=-1)
        return ops.gather(bz, self._bias_index, len(bz.shape) - 1)

    def _assemble(self, results, lead, dtype):
        """Output blocks from the groups' results ``(B, f_out, mul_out, d)`` (sums of column ranges where several
        groups feed one block, zeros where none does), concatenated: ``lead + (irreps_out.dim,)``."""
        outs = []
        for dim, mul, _, src in self._plan.out_sources:
            if src is None:
                outs.append(ops.zeros(lead + (dim,), dtype))
            else:
                block = None
                for g, col in src:
                    r = results[g]
                    if not (col == 0 and r.shape[2] == mul):
                        r = r[:, :, col:col + mul, :]
                    r = r.reshape(lead + (dim,))
                    block = r if block is None else block + r
                outs.append(block)
        if len(outs) == 0:
            return ops.zeros(lead + (0,), dtype)
        if len(outs) == 1:
            return outs[0]
        return ops.concat(outs, axis=len(lead))

    def _forward(self, features, weight, bias):
        """The general case: channels, per-sample or given weights, biases."""
        nf = 1 if self.f_in is None else 2
        batch = features.shape[:-nf]
        fi, fo = self._fi, self._fo
        nw = len(self._weight_shape)

        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise ValueError(f"{self._name}: internal_weights=False, so a weight of shape "
                                 f"(..., {self.weight_numel}) must be given")
            weight = self.weight
        if self.weight_numel > 0:
            if weight.ndim < nw or weight.shape[-nw:] != self._weight_shape:
                raise ValueError(f"{self._name}: expected a weight of shape (..., {self._weight_shape}), "
                                 f"got {weight.shape}")
        if bias is None:
            if self.bias_numel > 0 and not self.internal_weights:
                raise ValueError(f"{self._name}: internal_weights=False, so a bias of shape "
                                 f"{self._bias_shape} must be given")
            bias = self.bias
        if self.bias_numel > 0:
            if bias.ndim < len(self._bias_shape) or bias.shape[-len(self._bias_shape):] != self._bias_shape:
                raise ValueError(f"{self._name}: expected a bias of shape {self._bias_shape}, got {bias.shape}")

        per_sample = False
        w = weight
        if self.weight_numel > 0:
            if self.shared_weights:
                if _prod(weight.shape[:-nw]) != 1:
                    raise ValueError(f"{self._name}: shared_weights=True takes one weight of shape "
                                     f"{self._weight_shape}, got {weight.shape}")
                w = weight.reshape(self._size)
            else:
                per_sample = True
                wbatch = weight.shape[:-nw]
                full = broadcast_shape(batch, wbatch, self._name)
                if batch != full:
                    features = ops.broadcast_to(features, full + features.shape[len(features.shape) - nf:])
                    batch = full
                if wbatch != full:
                    weight = ops.broadcast_to(weight, full + self._weight_shape)
                w = weight.reshape(_prod(batch), self._size)

        B = _prod(batch)
        if B == 0:  # an empty batch: no kernel runs (some divide by the row count)
            return ops.zeros(batch + ((self._dim_out,) if self.f_in is None else (fo, self._dim_out)), features.dtype)
        x = features.reshape(B, fi * self._dim_in)
        x3 = features.reshape(B, fi, self._dim_in)

        plan = self._plan
        results = []
        wz = None
        ws = w
        if len(plan.groups) > 0 and not per_sample:
            ws = w * plan.weight_scale  # shared: scale the (small) flat weight once
        if plan.gather:
            if per_sample:
                wz = ops.concat([w * plan.weight_scale, ops.zeros((B, 1), w.dtype)], axis=1)
            else:
                wz = ops.concat([ws, ops.zeros((1,), w.dtype)], axis=0)
        blocks = ()
        if len(plan.groups) > 0:
            if self.f_in is None:
                blocks = self._split_in(x)
            else:
                blocks = self._split_in(x3)
        for g in plan.groups:
            d, in_blocks, K, M, mul_out, offset = g.d, g.pieces, g.K, g.M, g.mul_out, g.offset
            # weight block matrix
            if offset >= 0:
                if per_sample:
                    W = w[:, offset:offset + K * M].reshape(B, K, M)
                else:
                    W = ws[offset:offset + K * M].reshape(K, M)
            elif per_sample:
                W = ops.gather(wz, g.weight_index, 1).reshape(B, K, M)
            else:
                W = ops.gather(wz, g.weight_index, 0).reshape(K, M)

            if per_sample:
                # natural layout (B, K, d): BatchMatMul(W^T, x) -> (B, M, d), no transpose
                pieces = []
                for i in in_blocks:
                    mul = blocks[i].shape[-1] // d
                    if self.f_in is None:
                        pieces.append(blocks[i].reshape(B, mul, d))
                    else:
                        pieces.append(blocks[i].reshape(B, fi, mul, d))
                xs = pieces[0] if len(pieces) == 1 else ops.concat(pieces, axis=len(pieces[0].shape) - 2)
                y = self._bmm_ta(W, xs.reshape(B, K, d))
                if g.scaled:  # a slice of the unscaled per-sample weight: its path weight
                    y = y * g.path_weight
                results.append(y.reshape(B, fo, mul_out, d))
            else:
                # components next to the batch: (B*d, K) @ (K, M)
                pieces = []
                for i in in_blocks:
                    mul = blocks[i].shape[-1] // d
                    if self.f_in is None:
                        blk = blocks[i]
                        if d > 1:
                            blk = ops.transpose(blk.reshape(B, mul, d), (0, 2, 1))
                        pieces.append(blk.reshape(B, d, mul))
                    else:
                        blk = blocks[i].reshape(B, fi, mul, d)
                        if d > 1:
                            blk = ops.transpose(blk, (0, 3, 1, 2))
                        pieces.append(blk.reshape(B, d, fi, mul))
                xs = pieces[0] if len(pieces) == 1 else ops.concat(pieces, axis=len(pieces[0].shape) - 1)
                y = self._matmul(xs.reshape(B * d, K), W)
                if d > 1:
                    y = ops.transpose(y.reshape(B, d, fo * mul_out), (0, 2, 1))
                results.append(y.reshape(B, fo, mul_out, d))

        lead = (B,) if self.f_in is None else (B, fo)  # no channel axis without channels: no reshape copies
        out = self._assemble(results, lead, features.dtype)

        out_shape = batch + ((self._dim_out,) if self.f_in is None else (fo, self._dim_out))
        if out.shape != out_shape:
            out = out.reshape(out_shape)
        if self._has_bias:
            bfull = self._bias_full(bias)
            if self.f_in is not None:
                bfull = bfull.reshape(bfull.shape[:-1] + (fo, self._dim_out))
            out = out + bfull
        return out

    # ---------------------------------------------------------------------------------------------------
    def weight_view_for_instruction(self, instruction, weight=None):
        """The weights of one instruction, shape ``(..., [f_in, f_out,] mul_in, mul_out)``.

        Examples:
            >>> lin = Linear("2x0e + 1o", "3x0e + 1o")
            >>> lin.weight_view_for_instruction(0).shape
            (2, 3)
        """
        if weight is None:
            if not self.internal_weights:
                raise ValueError(f"{self._name}: internal_weights=False, pass the weight")
            weight = self.weight
        weighted = [ins for ins in self.instructions if ins.i_in != -1]
        if not 0 <= instruction < len(weighted):
            raise ValueError(f"{self._name}: instruction {instruction} out of range [0, {len(weighted)})")
        offset = sum(i.path_shape[0] * i.path_shape[1] for i in weighted[:instruction])
        ins = weighted[instruction]
        n = ins.path_shape[0] * ins.path_shape[1]
        return weight[..., offset:offset + n].reshape(weight.shape[:-1] + tuple(ins.path_shape))

    def weight_views(self, weight=None, yield_instruction=False):
        """Iterate over the weight view of every weighted instruction (see :meth:`weight_view_for_instruction`).

        Yields ``(index, instruction, view)`` when ``yield_instruction`` is true, else the views.

        Examples:
            >>> lin = Linear("2x0e + 1o", "3x0e + 1o")
            >>> [tuple(v.shape) for v in lin.weight_views()]
            [(2, 3), (1, 1)]
        """
        for i, ins in enumerate(self.instructions):
            if ins.i_in == -1:
                continue
            view = self.weight_view_for_instruction(i, weight)
            yield (i, ins, view) if yield_instruction else view
