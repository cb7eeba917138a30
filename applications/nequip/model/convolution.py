r"""NequIP's convolution as one Cell: gather the neighbours' features, ``uvu`` tensor product with the edge
harmonics (per-edge weights), sum at the receiving atom.

It executes a :class:`~applications.nequip.model.convolution_plan.ConvolutionPlan`: the layout changes happen on
node-sized tensors (before the gather, after the sum), and every edge-sized step is one op for all paths:

1. node features ``[N, irreps_in.dim]`` -> component-major ``[N, d1 * mul]``;
2. ``h[src]`` ``[E, d1, mul]``; ``T = Y @ cg`` ``[E, K, d1]``; one BatchMatMul -> ``[E, K, mul]``;
3. cut into one ``[E, P_b * mul]`` piece per block and output component (one split); each piece times its
   block's weights (same shapes: no broadcast, whose gradient would be a slow ``ReduceSum``), summed over edges
   at ``dst`` (``UnsortedSegmentSum``);
4. a block's components stacked last on the node side is e3nn's multiplicity-major layout; concatenate the
   blocks: ``[N, irreps_out.dim]``.

The per-edge weights must arrive in the plan's block order (columns ``plan.weight_perm`` of e3nn's layout);
:class:`~applications.nequip.model.interaction.InteractionBlock` permutes its radial MLP's last weight matrix
instead of the edge-sized output.
"""
import mindspore as ms
from mindspore import nn, ops

from mindchemistry_e3.util.dtype import check_float_dtype, constant
from mindchemistry_e3.util.graph import gather_rows, segment_sum
from mindchemistry_e3.util.split import split

from .convolution_plan import build_convolution_plan

__all__ = ["Convolution"]


class Convolution(nn.Cell):
    r"""Sum over edges of ``TensorProduct(h[src], Y, w)`` for weighted ``uvu`` paths, at ``dst``.

    Args:
        irreps_in (Irreps): node features (one multiplicity).
        irreps_sh (Irreps): edge harmonics (multiplicity 1 each).
        irreps_out (Irreps): one irrep per path (multiplicity of ``irreps_in``).
        instructions (list[tuple]): e3nn-style ``(i_in, i_sh, i_out, "uvu", True)``.
        scale (float): constant factor on the sum (e.g. ``1 / sqrt(avg_num_neighbors)``). Default 1.
        dtype (mindspore.dtype): float dtype. Default ``mindspore.float32``.

    Inputs:
        - **x** (Tensor) - node features ``[N, irreps_in.dim]``.
        - **edge_attr** (Tensor) - harmonics ``[E, irreps_sh.dim]``.
        - **weight** (Tensor) - ``[E, weight_numel]``, columns in block order (``weight_perm``).
        - **edge_src** (Tensor) - int32 ``[E]``.
        - **edge_dst** (Tensor) - int32 ``[E]``.

    Outputs:
        Tensor ``[N, irreps_out.dim]``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> conv = Convolution("2x0e", "0e + 1o", "2x0e + 2x1o", [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True)])
        >>> out = conv(ms.Tensor(np.ones((3, 2), np.float32)), ms.Tensor(np.ones((2, 4), np.float32)),
        ...            ms.Tensor(np.ones((2, 4), np.float32)), ms.Tensor([0, 1], ms.int32), ms.Tensor([1, 2], ms.int32))
        >>> out.shape, conv.weight_perm.tolist()
        ((3, 8), [0, 1, 2, 3])
    """

    def __init__(self, irreps_in, irreps_sh, irreps_out, instructions, scale=1.0, *, dtype=ms.float32):
        super().__init__()
        self.dtype = check_float_dtype(dtype)
        self.plan = build_convolution_plan(irreps_in, irreps_sh, irreps_out, instructions)
        plan = self.plan
        self.irreps_in, self.irreps_sh, self.irreps_out = plan.irreps_in, plan.irreps_sh, plan.irreps_out
        self.weight_numel = plan.weight_numel
        self._in_dim, self._sh_dim, self._in_str = plan.irreps_in.dim, plan.irreps_sh.dim, str(plan.irreps_in)
        self.weight_perm = plan.weight_perm
        self._cg = constant(plan.cg * float(scale), dtype)
        self._matmul = ops.MatMul()
        self._bmm = ops.BatchMatMul()
        self._in_sizes = tuple(plan.mul * d for d in plan.in_dims)
        self._needs_transpose = any(d > 1 for d in plan.in_dims)
        self._w_sizes = tuple(plan.mul * len(b.paths) for b in plan.blocks)
        self._piece_sizes = tuple(plan.mul * len(b.paths) for b in plan.blocks for _ in range(b.d3))
        self._blocks = tuple(b.d3 for b in plan.blocks)
        self._mul, self._d1, self._k, self._in_dims = plan.mul, plan.d1, plan.k, plan.in_dims
        self._pynative = False

    def __call__(self, *args, **kwargs):
        self._pynative = ms.get_context("mode") == ms.PYNATIVE_MODE
        return super().__call__(*args, **kwargs)

    def _split(self, x, sizes, axis):
        return split(x, sizes, axis, self._pynative)

    def _component_major(self, x):
        """``[N, irreps_in.dim]`` (e3nn layout) -> ``[N, d1 * mul]`` (rows of components)."""
        if not self._needs_transpose:
            return x
        n, mul = x.shape[0], self._mul
        pieces = self._split(x, self._in_sizes, 1)
        out = []
        for i in range(len(pieces)):
            d = self._in_dims[i]
            if d == 1:
                out.append(pieces[i])
            else:
                out.append(ops.transpose(pieces[i].reshape(n, mul, d), (0, 2, 1)).reshape(n, d * mul))
        if len(out) == 1:
            return out[0]
        return ops.concat(out, 1)

    def construct(self, x, edge_attr, weight, edge_src, edge_dst):
        if x.shape[-1] != self._in_dim:
            raise ValueError(f"Convolution: node features must be [N, {self._in_dim}] ({self._in_str}), "
                             f"got {x.shape}")
        if edge_attr.shape[-1] != self._sh_dim or weight.shape[-1] != self.weight_numel:
            raise ValueError(f"Convolution: edge_attr must be [E, {self._sh_dim}] and weight "
                             f"[E, {self.weight_numel}], got {edge_attr.shape} and {weight.shape}")
        n, e, mul = x.shape[0], edge_attr.shape[0], self._mul
        xs = gather_rows(self._component_major(x), edge_src).reshape(e, self._d1, mul)
        t = self._matmul(edge_attr, self._cg).reshape(e, self._k, self._d1)
        a = self._bmm(t, xs)  # [E, K, mul]
        rows = self._split(a.reshape(e, self._k * mul), self._piece_sizes, 1)
        ws = self._split(weight, self._w_sizes, 1)
        out = []
        r = 0
        for b in range(len(self._blocks)):
            d3 = self._blocks[b]
            comps = []
            for _ in range(d3):
                comps.append(segment_sum(rows[r] * ws[b], edge_dst, n))
                r += 1
            if d3 == 1:
                out.append(comps[0])
            else:
                out.append(ops.stack(comps, 2).reshape(n, -1))
        if len(out) == 1:
            return out[0]
        return ops.concat(out, 1)
