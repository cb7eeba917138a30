r"""``o3.TensorProduct``: e3nn's parametrised tensor product, lowered to a few batched MatMuls.

What it computes (e3nn 0.6.0): for every instruction ``(i1, i2, o, mode, has_weight, path_weight)``

.. math::

    z^{(o)}_{w k} \mathrel{+}= c \sum_{u v} W_{\dots} \sum_{i j} x^{(i_1)}_{u i}\, y^{(i_2)}_{v j}\, C^{l_1 l_2 l_o}_{ijk}

with ``C`` the real Wigner 3j symbol, ``c`` the normalisation coefficient and the multiplicity pattern
``(u, v) -> w`` of the connection mode (``uvw`` fully connected, ``uvu``, ``uvv``, ``uuw``, ``uuu``, ``uvuv``,
``uvu<v``, ``u<vw``).

How it is lowered (the numpy plan in ``_plan.py`` decides everything once; ``construct`` only executes it):

1. **Split, don't slice.** ``x1``, ``x2``, the flat weights and every per-path result are cut with one
   ``SplitWithSize`` op each (its gradient is a single concat; a slice per piece would compile slowly and
   produce one zero-padded full-size gradient per piece).
2. **Fully connected ``uvw`` paths with ``mul2 = 1`` (FullyConnectedTensorProduct on spherical harmonics) are
   output-stationary**: the weights meet ``x1`` first, ``y_p = x1^T[Z*d1, mul1] @ W_p[mul1, w]`` (a big 2-D
   MatMul per path), then each output irrep is **one BatchMatMul** ``T_o[Z, d3, sum d1] @ Y_o[Z, sum d1, w]``
   whose contraction runs over all its paths at once (so path sums cost nothing), with
   ``T = x2 @ Cbig`` one 2-D MatMul against the stacked, path-weight-scaled CG blocks of every output. On CPU that
   BatchMatMul of ``Z`` tiny matrices and its transpose to e3nn's layout are one generated kernel per output
   (``_contract_cpu.py``).
3. **All other paths are grouped** by input-1 irrep, multiplicity pattern (``(u, v)`` or ``u == v``) and input-2
   source (all multiplicity-1 input-2 irreps together, i.e. the whole ``x2``; else one block). Per group:
   one 2-D MatMul ``T = x2[Z*mul2, d2] @ Cbig[d2, d1*K]`` contracts input 2 with every path's CG block
   (``K`` = output components of all the group's paths), then **one BatchMatMul** with ``x1``. For
   ``mul2 = 1`` (NequIP's ``uvu`` convolution) the product is taken *k-major*,
   ``A^T[Z, K, mul1] = T^T[Z, K, d1] @ x1^T[Z, d1, mul1]``, so that each path is a contiguous block of rows:
   per-sample ``uvu`` weights are applied to the whole group by **one** row-gather + same-shape multiply,
   shared mixing weights by one 2-D MatMul per path, and the paths are split apart in one op and transposed
   to e3nn's multiplicity-major ``[Z, mul_out, d3]``. Other groups use ``A[Z, mul1*mul2, K]`` and apply their
   weights per path (broadcast multiply, weighted sums, or a MatMul).
4. **Assemble**: contributions to the same output irrep are added; the output irreps are concatenated once.

Per-sample weights on paired rows with ``uvu`` / ``uvw`` paths and multiplicity-1 second inputs (NequIP's product)
run the convolution's plan without its gather and sum (``_conv_plan.py``): one MatMul and one BatchMatMul per input
multiplicity, the weights permuted a whole path at a time.

The heavy ops (MatMul / BatchMatMul) are a fixed few per group or per output irrep, independent of the number
of paths; per path there remain only a reshape/transpose (and its weight multiply outside the fast cases).
"""
import mindspore as ms
import numpy as np
from mindspore import nn, ops
from mindspore.common.initializer import Normal, initializer

from .._irreps import Irreps
from ...util._cell import PlanCell, broadcast_shape, kernel_takes, plan_tensors, prod
from ...util.dtype import constant
from .._stacked import stacked_matmul, stacked_native
from ._contract_cpu import fused_contract
from ._outer_cpu import fused_outer
from ._conv_run import run_conv_plan
from ._conv_plan import build_conv_plan, conv_plan_support
from ._plan import build_plan, execution_plan, scalar_stack_terms, scalar_stacked_plan
from ._uvu_cpu import fused_uvu_product

__all__ = ["TensorProduct"]


class TensorProduct(PlanCell):
    r"""Tensor product with parametrised paths (e3nn 0.6.0's ``o3.TensorProduct``).

    Args:
        irreps_in1 (Irreps): irreps of the first input.
        irreps_in2 (Irreps): irreps of the second input.
        irreps_out (Irreps): irreps of the output.
        instructions (list[tuple]): ``(i_in1, i_in2, i_out, mode, has_weight[, path_weight])``; ``mode`` one of
            ``uvw, uvu, uvv, uuw, uuu, uvuv, uvu<v, u<vw``.
        in1_var, in2_var, out_var (list[float], optional): variance of each irrep (default 1).
        irrep_normalization (str): ``'component'`` (default), ``'norm'`` or ``'none'``.
        path_normalization (str): ``'element'`` (default), ``'path'`` or ``'none'``.
        internal_weights (bool, optional): keep the weights as a Parameter named ``weight`` (default: when
            shared and some path has weights).
        shared_weights (bool, optional): one weight vector for all samples (default True); False means
            ``weight`` of shape ``(..., weight_numel)``.
        compile_left_right, compile_right, normalization, _specialized_code, _optimize_einsums: accepted for
            e3nn compatibility (``normalization`` is the deprecated name of ``irrep_normalization``).
        dtype (mindspore.dtype): float32, float64, float16 or bfloat16; keyword only. Default: the default dtype
            (``get_default_dtype()``).
        compute_dtype (mindspore.dtype, optional): ``mindspore.float16`` or ``mindspore.bfloat16``: the operands of
            the MatMuls / BatchMatMuls in that dtype, their results, the path sums and the output in ``dtype``
            (:mod:`mindchemistry_e3.util.precision`); keyword only. Default None: everything in ``dtype``.

    Inputs:
        - **x** (Tensor) - shape ``(..., irreps_in1.dim)``.
        - **y** (Tensor) - shape ``(..., irreps_in2.dim)``.
        - **weight** (Tensor, optional) - ``(weight_numel,)`` (shared) or ``(..., weight_numel)``; required
          unless the weights are internal.

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)`` (leading axes broadcast).

    Raises:
        ValueError: bad instructions, normalisation names, variances, or input / weight shapes.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> from mindchemistry_e3.o3 import Irreps, TensorProduct
        >>> tp = TensorProduct("16x1o", "16x1o", "16x1e", [(0, 0, 0, "uuu", False)])
        >>> x = Irreps("16x1o").randn(5, -1, seed=0)
        >>> tp(x, x).shape
        (5, 48)
    """

    def __init__(self, irreps_in1, irreps_in2, irreps_out, instructions, in1_var=None, in2_var=None,
                 out_var=None, irrep_normalization=None, path_normalization=None, internal_weights=None,
                 shared_weights=None, compile_left_right=True, compile_right=False, normalization=None,
                 _specialized_code=None, _optimize_einsums=None, *, dtype=None, compute_dtype=None):
        del compile_left_right, compile_right, _specialized_code, _optimize_einsums
        if normalization is not None:
            irrep_normalization = normalization
        irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
        super().__init__(f"{type(self).__name__}({irreps_in1} x {irreps_in2} -> {irreps_out})", dtype, compute_dtype)
        self.irreps_in1, self.irreps_in2, self.irreps_out = irreps_in1, irreps_in2, irreps_out
        name = self._name

        if shared_weights is False and internal_weights is None:
            internal_weights = False
        if shared_weights is None:
            shared_weights = True
        plan = build_plan(self.irreps_in1, self.irreps_in2, self.irreps_out, instructions,
                          shared_weights=shared_weights, in1_var=in1_var, in2_var=in2_var, out_var=out_var,
                          irrep_normalization=irrep_normalization, path_normalization=path_normalization)
        self.plan = plan
        self.instructions = list(plan.instructions)
        if internal_weights is None:
            internal_weights = shared_weights and any(i.has_weight for i in self.instructions)
        if internal_weights and not shared_weights:
            raise ValueError(f"{name}: internal_weights=True requires shared_weights=True")
        self.internal_weights = bool(internal_weights)
        self.shared_weights = bool(shared_weights)
        self.weight_numel = plan.weight_numel
        self._in1_dim = self.irreps_in1.dim
        self._in2_dim = self.irreps_in2.dim
        self._out_dim = self.irreps_out.dim

        if self.internal_weights and self.weight_numel > 0:
            self.weight = ms.Parameter(initializer(Normal(1.0), [self.weight_numel], self.dtype), name="weight")
        else:
            self.weight = None
        self._plan = plan_tensors(execution_plan(plan), self.dtype)  # read field by field in construct
        live = [any(p for p in parts) for parts in plan.outputs]
        mask = np.concatenate([np.full(mul * ir.dim, 1.0 if ok else 0.0)
                               for (mul, ir), ok in zip(self.irreps_out, live)] + [np.zeros(0)])
        self.output_mask = constant(mask, self.dtype)  # e3nn's output_mask: 1 where some path writes
        # every path a weighted uvw with a scalar second input (a species self-connection), shared weights: a linear
        # map of the outer product x1 (x) x2, one BatchMatMul over the output components
        scalar = scalar_stacked_plan(plan)
        self._scalar = None if scalar is None else plan_tensors(scalar, self.dtype)
        self._scalar_native = stacked_native(scalar, self.dtype, self.compute_dtype, [self.weight_numel])
        # and its features (the outer product of the inputs) as CPU kernels too, where the product's apply
        self._outer_native = (None if self._scalar_native is None
                              else fused_outer(self.irreps_in1.dim, self.irreps_in2.dim))
        # the output-stationary contractions (a BatchMatMul of Z tiny matrices and a transpose per output irrep) as
        # CPU kernels writing e3nn's layout, where they apply to every output (W3 on CPU, see _contract_cpu_np)
        self._contract_native = None
        if plan.ostat is not None and self.compute_dtype is None and self.dtype in (ms.float32, ms.float64):
            cells = [fused_contract(d3, n, mul_out) for _, n, d3, mul_out, _ in plan.ostat.outs]
            if all(cell is not None for cell in cells):
                self._contract_native = nn.CellList(cells)
        self._bmm_ta = self.product(ops.BatchMatMul(transpose_a=True))
        # per-sample weights on weighted uvu / uvw paths with multiplicity-1 second inputs (NequIP's product):
        # the convolution's plan without its gather and sum -- one MatMul and one BatchMatMul per input
        # multiplicity, the weights of all uvu paths in one multiply (much less data movement than the groups)
        # on CPU, weighted uvu paths only: two generated C++ kernels (forward, gradient) in e3nn's layouts
        self.native = None
        if not self.shared_weights and self.compute_dtype is None:
            self.native = fused_uvu_product(self.irreps_in1, self.irreps_in2, self.irreps_out, plan.instructions,
                                            self.dtype)
        # otherwise the paired plan where it applies (the kernels run on exactly the rows it would)
        self._paired = None
        if (self.native is None and not self.shared_weights
                and conv_plan_support(self.irreps_in1, self.irreps_in2, self.irreps_out, plan.instructions) is None):
            self._paired = plan_tensors(build_conv_plan(self.irreps_in1, self.irreps_in2, self.irreps_out,
                                                        plan.instructions), self.dtype)

    # ------------------------------------------------------------------------------------------------------
    def __repr__(self):
        npath = sum(int(np.prod(i.path_shape)) for i in self.instructions)
        return (f"{type(self).__name__}({self.irreps_in1.simplify()} x {self.irreps_in2.simplify()} -> "
                f"{self.irreps_out.simplify()} | {npath} paths | {self.weight_numel} weights)")

    def _path(self, st, a, wch, z, mul1, mul2):
        """Weights of one path (a :class:`~._plan.PathStep`) on its columns ``a [Z, mul1*mul2 | mul, d3]`` ->
        ``[Z, mul_out, d3]``."""
        d3, na, mul_out, wi = st.d3, st.a, st.mul_out, st.w
        if st.pairs is not None:
            a = ops.gather(a, st.pairs, 1)
        if st.template == "diag":
            if wi < 0:
                return a
            if self.shared_weights:
                return a * wch[wi].reshape(na, 1)
            return a * wch[wi].reshape(z, na, 1)
        if st.template == "sum_v" or st.template == "sum_u":
            a = a.reshape(z, mul1, mul2, d3)
            if wi >= 0:
                if self.shared_weights:
                    a = a * wch[wi].reshape(mul1, mul2, 1)
                else:
                    a = a * wch[wi].reshape(z, mul1, mul2, 1)
            if st.template == "sum_v":
                return a.sum(axis=2)
            return a.sum(axis=1)
        if wi < 0:  # uuw without weights: sum over u into mul_out == 1
            return a.sum(axis=1, keepdims=True)
        if self.shared_weights:
            r = self._matmul(ops.transpose(a, (0, 2, 1)).reshape(z * d3, na), wch[wi].reshape(na, mul_out))
            return ops.transpose(r.reshape(z, d3, mul_out), (0, 2, 1))
        return self._bmm(ops.transpose(wch[wi].reshape(z, na, mul_out), (0, 2, 1)), a)

    def _path_kmajor(self, st, at, wch, z, weighted):
        """One path's rows ``at [Z, d3, mul1]`` (k-major) -> ``[Z, mul_out, d3]``."""
        d3, na, mul_out, wi = st.d3, st.a, st.mul_out, st.w
        if st.template == "diag":
            r = at
            if wi >= 0 and not weighted:
                if self.shared_weights:
                    r = r * wch[wi].reshape(1, na)
                else:
                    r = r * wch[wi].reshape(z, 1, na)
        elif wi < 0:  # uuw without weights (mul 1): sum over u
            r = at.sum(axis=2, keepdims=True)
        elif self.shared_weights:
            r = self._matmul(at.reshape(z * d3, na), wch[wi].reshape(na, mul_out)).reshape(z, d3, mul_out)
        else:
            r = self._bmm(at, wch[wi].reshape(z, na, mul_out))
        if d3 == 1:
            return r.reshape(z, -1, 1)
        return ops.transpose(r, (0, 2, 1))

    def _group(self, g, x1s, x2, x2s, wch, z):
        """The results ``[Z, mul_out, d3]`` of a :class:`~._plan.Group`'s paths: one MatMul, one BatchMatMul."""
        mul1, d1, mul2, k = g.mul1, g.d1, g.mul2, g.K
        x1g = x1s[g.x1].reshape(z, mul1, d1)
        x2g = x2 if g.x2 < 0 else x2s[g.x2].reshape(z * mul2, g.d2)
        t = self._matmul(x2g, g.cg)  # [Z*mul2, d1*K]
        results = ()
        if g.kmajor:
            if d1 > 1:
                at = self._bmm(t.reshape(z, k, d1), ops.transpose(x1g, (0, 2, 1)))  # [Z, K, mul1]
            else:
                at = self._bmm(t.reshape(z, k, 1), x1g.reshape(z, 1, mul1))
            weighted = g.row_path is not None
            if weighted:  # every path: weighted diag -> one multiply for the group
                wl = ()
                for st in g.paths:
                    wl = wl + (wch[st.w],)
                if self.shared_weights:
                    wst = ops.stack(wl, 0) if len(wl) > 1 else wl[0].reshape(1, mul1)
                    at = at * ops.gather(wst, g.row_path, 0)
                else:
                    wst = ops.stack(wl, 1) if len(wl) > 1 else wl[0].reshape(z, 1, mul1)
                    at = at * ops.gather(wst, g.row_path, 1)
            rows = self.split(at, g.d3s, 1)
            for i in range(len(g.paths)):
                results = results + (self._path_kmajor(g.paths[i], rows[i], wch, z, weighted),)
            return results
        if g.kind == "diag":
            a_all = self._bmm(x1g.reshape(z * mul1, 1, d1), t.reshape(z * mul1, d1, k)).reshape(z, mul1, k)
        elif mul2 == 1:
            a_all = self._bmm(x1g, t.reshape(z, d1, k))
        else:
            t = ops.transpose(t.reshape(z, mul2, d1, k), (0, 2, 1, 3)).reshape(z, d1, mul2 * k)
            a_all = self._bmm(x1g, t).reshape(z, mul1 * mul2, k)
        cols = self.split(a_all, g.d3s, 2)
        for i in range(len(g.paths)):
            results = results + (self._path(g.paths[i], cols[i], wch, z, mul1, mul2),)
        return results

    def _output_stationary(self, os_, x1s, x2, wch, z):
        """The results ``[Z, mul_out, d3]`` of the :class:`~._plan.OutputStationary` outputs."""
        ys = ()
        for blk in os_.in_blocks:
            mul1, d1 = blk.mul1, blk.d1
            xt = ops.transpose(x1s[blk.x1].reshape(z, mul1, d1), (0, 2, 1))  # [Z, d1, u]
            if self.shared_weights:
                xt = xt.reshape(z * d1, mul1)
            yb = ()
            for j in range(len(blk.ws)):  # one MatMul per path: [Z*d1, u] @ W_p[u, w]
                w = blk.widths[j]
                if self.shared_weights:
                    yb = yb + (self._matmul(xt, wch[blk.ws[j]].reshape(mul1, w)).reshape(z, d1, w),)
                else:
                    yb = yb + (self._bmm(xt, wch[blk.ws[j]].reshape(z, mul1, w)),)
            ys = ys + (yb,)
        ts = self.split(self._matmul(x2, os_.cg), os_.sizes, 1)
        results = ()
        for oi in range(len(os_.outs)):
            _, n, d3, _, pieces = os_.outs[oi]
            yl = ()
            for b, p in pieces:
                yl = yl + (ys[b][p],)
            yo = ops.concat(yl, 1) if len(yl) > 1 else yl[0]
            if self._contract_native is not None and z > 0:  # [Z, w, d3] in one kernel
                r = self._contract_native[oi](ts[oi], yo)
            else:
                r = self._bmm(ts[oi].reshape(z, d3, n), yo)  # [Z, d3, w]
                r = ops.transpose(r, (0, 2, 1)) if d3 > 1 else r.reshape(z, -1, 1)
            results = results + (r,)
        return results

    def _forward(self, x1, x2, w, z):
        """``x1 [Z, dim1]``, ``x2 [Z, dim2]``, ``w`` flat ``[numel]`` / ``[Z, numel]`` (or None) -> ``[Z, dim_out]``:
        the plan's groups and output-stationary outputs, summed and assembled per output irrep."""
        plan = self._plan
        x1s = self.split(x1, plan.x1_sizes, 1)
        x2s = self.split(x2, plan.x2_sizes, 1)
        wch = ()
        if len(plan.w_sizes) > 0:
            wch = self.split(w, plan.w_sizes, len(w.shape) - 1)
        results = ()
        for g in plan.groups:
            results = results + self._group(g, x1s, x2, x2s, wch, z)
        if plan.ostat is not None:
            results = results + self._output_stationary(plan.ostat, x1s, x2, wch, z)
        pieces = ()
        for mul, d, parts in plan.out_parts:
            if len(parts) == 0:
                pieces = pieces + (ops.zeros((z, mul * d), x1.dtype),)
            else:
                acc = results[parts[0]]
                for j in range(1, len(parts)):
                    acc = acc + results[parts[j]]
                pieces = pieces + (acc.reshape(z, mul * d),)
        if len(pieces) == 0:
            return ops.zeros((z, 0), x1.dtype)
        if len(pieces) == 1:
            return pieces[0]
        return ops.concat(pieces, 1)

    def construct(self, x, y, weight=None):
        if x.shape[-1] != self._in1_dim:
            raise ValueError(f"{self._name}: input 1 must have last dimension irreps_in1.dim="
                             f"{self._in1_dim}, got shape {x.shape}")
        if y.shape[-1] != self._in2_dim:
            raise ValueError(f"{self._name}: input 2 must have last dimension irreps_in2.dim="
                             f"{self._in2_dim}, got shape {y.shape}")
        self.check_dtype(x, y)
        paired = len(x.shape) == 2 and len(y.shape) == 2 and x.shape[0] == y.shape[0]
        if (self._scalar is not None and paired and x.shape[0] > 0
                and ((weight is None and self.internal_weights) or (weight is not None and weight.shape == (
                    self.weight_numel,)))):
            return stacked_matmul(self.stack_features(x, y), self.weight if weight is None else weight, self._scalar,
                                  self._matmul, self._bmm_ta, self._scalar_native)
        if (self.native is not None and paired and x.shape[0] > 0 and weight is not None
                and weight.shape == (x.shape[0], self.weight_numel)):
            return self.native(x, y, weight)
        if (self._paired is not None and paired and x.shape[0] > 0 and weight is not None
                and weight.shape == (x.shape[0], self.weight_numel)):
            return run_conv_plan(self, self._paired, x, y, weight, None, None, x.shape[0])
        if weight is None and self.internal_weights and paired:
            # rows of x and y paired one to one, own shared weights: no broadcasting to plan (a smaller graph,
            # about twice faster through MindSpore's type inference)
            return self._forward(x, y, self.weight, x.shape[0])
        return self._construct_general(x, y, weight)

    def stack_terms(self):
        """The product as :class:`~mindchemistry_e3.o3._stacked_np.StackTerms` of :meth:`stack_features` (to be
        summed with other maps in :class:`~mindchemistry_e3.o3.StackedSum`); None unless every path is a weighted
        ``uvw`` with a scalar second input and the weights are shared (a species self-connection)."""
        return None if self._scalar is None else scalar_stack_terms(self.plan)

    def stack_features(self, x, y):
        """The outer product of paired rows ``x [Z, irreps_in1.dim]``, ``y [Z, irreps_in2.dim]`` flattened to
        ``[Z, irreps_in1.dim * irreps_in2.dim]``: the features of :meth:`stack_terms` (one BatchMatMul)."""
        z = x.shape[0]
        if self._outer_native is not None and kernel_takes(x):
            return self._outer_native(x, y)
        return self._bmm(x.reshape(z, self._in1_dim, 1), y.reshape(z, 1, self._in2_dim)).reshape(
            z, self._in1_dim * self._in2_dim)

    def _construct_general(self, x, y, weight):
        """Broadcast leading axes and given (shared or per-sample) weights, then :meth:`_forward`."""
        lead = broadcast_shape(x.shape[:-1], y.shape[:-1], self._name)
        w = None
        if self.weight_numel > 0:
            if weight is None:
                if not self.internal_weights:
                    raise ValueError(f"{self._name}: weights of shape (..., {self.weight_numel}) must be given "
                                     f"when the TensorProduct has no internal weights")
                w = self.weight
            else:
                w = weight
                if self.shared_weights:
                    if w.shape != (self.weight_numel,):
                        raise ValueError(f"{self._name}: shared weight must have shape ({self.weight_numel},), "
                                         f"got {w.shape}")
                else:
                    if len(w.shape) < 2 or w.shape[-1] != self.weight_numel:
                        raise ValueError(f"{self._name}: shared_weights=False takes one weight row per sample, of "
                                         f"shape (..., weight_numel) = {lead + (self.weight_numel,)}, got "
                                         f"{w.shape} (one weight vector for every sample needs "
                                         f"shared_weights=True)")
                    lead = broadcast_shape(lead, w.shape[:-1], self._name)
        z = prod(lead)
        if x.shape[:-1] != lead:
            x = ops.broadcast_to(x, lead + (self._in1_dim,))
        if y.shape[:-1] != lead:
            y = ops.broadcast_to(y, lead + (self._in2_dim,))
        x = x.reshape(z, self._in1_dim)
        y = y.reshape(z, self._in2_dim)
        if w is not None and not self.shared_weights:
            if w.shape[:-1] != lead:
                w = ops.broadcast_to(w, lead + (self.weight_numel,))
            w = w.reshape(z, self.weight_numel)
        out = self._forward(x, y, w, z)
        return out.reshape(lead + (self._out_dim,))

    # ------------------------------------------------------------------------------------------------------
    def right(self, y, weight=None):
        r"""Partially evaluate :math:`w\, x \otimes y`: the operator ``(..., irreps_in1.dim, irreps_out.dim)``.

        ``tp(x, y, w)`` equals ``(x[..., :, None] * tp.right(y, w)).sum(-2)``.

        >>> from mindchemistry_e3.o3 import FullyConnectedTensorProduct, Irreps
        >>> tp = FullyConnectedTensorProduct("2x1o", "1o", "0e")
        >>> tp.right(Irreps("1o").randn(3, -1, seed=0)).shape
        (3, 6, 1)
        """
        d1 = self._in1_dim
        eye = constant(np.eye(d1), y.dtype)
        lead = tuple(y.shape[:-1])
        if weight is not None and not self.shared_weights:
            lead = broadcast_shape(lead, tuple(weight.shape[:-1]), self._name)
            weight = ops.broadcast_to(weight, lead + (self.weight_numel,)).reshape(lead + (1, self.weight_numel))
        y = ops.broadcast_to(y, lead + (self._in2_dim,)).reshape(lead + (1, self._in2_dim))
        x = ops.broadcast_to(eye, lead + (d1, d1))
        if weight is None:
            return self(x, y)
        return self(x, y, weight)

    def _get_weights(self, weight):
        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise ValueError(f"{self._name}: weights must be provided when there are no internal weights")
            return self.weight
        return weight

    def weight_view_for_instruction(self, instruction, weight=None):
        """View of the weights of instruction ``instruction``, shape ``(...,) + path_shape``.

        >>> from mindchemistry_e3.o3 import FullyConnectedTensorProduct
        >>> FullyConnectedTensorProduct("2x0e", "0e", "3x0e").weight_view_for_instruction(0).shape
        (2, 1, 3)
        """
        ins = self.instructions[instruction]
        if not ins.has_weight:
            raise ValueError(f"{self._name}: instruction {instruction} has no weights")
        w = self._get_weights(weight)
        off = self.plan.weight_offsets[instruction]
        n = int(np.prod(ins.path_shape))
        return w[..., off:off + n].reshape(tuple(w.shape[:-1]) + tuple(ins.path_shape))

    def weight_views(self, weight=None, yield_instruction=False):
        """Iterate over the weights of each weighted instruction, shaped ``(...,) + path_shape``.

        >>> from mindchemistry_e3.o3 import FullyConnectedTensorProduct
        >>> [w.shape for w in FullyConnectedTensorProduct("2x0e + 1o", "0e", "3x0e").weight_views()]
        [(2, 1, 3)]
        """
        for i, ins in enumerate(self.instructions):
            if ins.has_weight:
                view = self.weight_view_for_instruction(i, weight)
                yield (i, ins, view) if yield_instruction else view
