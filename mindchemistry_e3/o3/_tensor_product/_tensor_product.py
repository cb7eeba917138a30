r"""``o3.TensorProduct``: e3nn's parametrised tensor product, lowered to a few batched MatMuls.

What it computes (e3nn 0.6.0): for every instruction ``(i1, i2, o, mode, has_weight, path_weight)``

.. math::

    z^{(o)}_{w k} \mathrel{+}= c \sum_{u v} W_{\dots} \sum_{i j} x^{(i_1)}_{u i}\, y^{(i_2)}_{v j}\, C^{l_1 l_2 l_o}_{ijk}

with ``C`` the real Wigner 3j symbol, ``c`` the normalisation coefficient and the multiplicity pattern
``(u, v) -> w`` of the connection mode (``uvw`` fully connected, ``uvu``, ``uvv``, ``uuw``, ``uuu``, ``uvuv``,
``uvu<v``, ``u<vw``).

How it is lowered (the numpy plan in ``_plan.py`` decides everything once; ``construct`` only executes it):

1. **Group** the paths by their input-1 block ``x1[Z, mul1, d1]``, by whether the multiplicities pair up as
   ``(u, v)`` or ``u == v``, and by the input-2 source: all multiplicity-1 input-2 irreps together (the
   spherical-harmonics case: the source is the whole ``x2``), otherwise one input-2 block.
2. **Contract input 2 with the CG first, for all paths of the group at once**: one 2-D MatMul
   ``T = x2[Z*mul2, d2] @ Cbig[d2, d1*K]``, where ``Cbig`` stacks every path's CG block (already scaled by
   its ``path_weight``) side by side and ``K`` counts the output components of all paths.
3. **One BatchMatMul per group**: ``A = x1[Z, mul1, d1] @ T[Z, d1, mul2*K]`` gives every path's
   ``sum_ij x_ui y_vj C_ijk`` in one op (``u == v`` groups batch over ``Z*mul``).
4. **Weights, once per sub-group** of paths that use them alike: elementwise modes (``uvu`` with
   ``mul2 = 1``, ``uuu``, ``uvuv``, ...) multiply ``A`` by the weights gathered into ``A``'s shape (per-sample:
   same-shape multiply); mixing modes (``uvw``, ``uuw``, ``u<vw``) with shared weights run one BatchMatMul
   batched over the output components, ``A^T[K, Z, a] @ W[K, a, w]`` (each a big 2-D product); with
   per-sample weights one BatchMatMul per path.
5. **Assemble**: paths into the same output inside a sub-group are added by one 2-D MatMul with a 0/1
   matrix, pieces are sliced, added across groups and concatenated in e3nn's multiplicity-major layout.

The op count is a few per group plus one slice per output piece, so it grows with the number of input-1
irreps, not with the number of paths; the FLOPs are those of the dense CG contraction restricted to the
nonzero input-2 rows of each path.
"""
import mindspore as ms
import numpy as np
from mindspore import nn, ops
from mindspore.common.initializer import Normal, initializer

from .._irreps import Irreps
from ...util.dtype import check_float_dtype, constant
from ._plan import build_plan

__all__ = ["TensorProduct"]


def _broadcast_shape(a, b):
    """Broadcast two shape tuples (graph-mode friendly: Python ints only)."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    out = ()
    for i in range(n):
        if a[i] != b[i] and a[i] != 1 and b[i] != 1:
            raise ValueError(f"TensorProduct: leading shapes {a} and {b} do not broadcast")
        out = out + (max(a[i], b[i]),)
    return out


def _prod(shape):
    n = 1
    for s in shape:
        n = n * s
    return n


class TensorProduct(nn.Cell):
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
        dtype (mindspore.dtype): float32 (default), float64 or float16; keyword only.

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
        ``CPU``

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
                 _specialized_code=None, _optimize_einsums=None, *, dtype=ms.float32):
        super().__init__()
        del compile_left_right, compile_right, _specialized_code, _optimize_einsums
        self.dtype = check_float_dtype(dtype)
        if normalization is not None:
            irrep_normalization = normalization
        self.irreps_in1 = Irreps(irreps_in1)
        self.irreps_in2 = Irreps(irreps_in2)
        self.irreps_out = Irreps(irreps_out)
        name = f"{type(self).__name__}({self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out})"
        self._name = name

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
        self._setup_constants(plan)

    # ------------------------------------------------------------------------------------------------------
    def _setup_constants(self, plan):
        """Turn the plan into graph constants: Tensors in lists, structure in tuples of Python ints/strings."""
        dt = self.dtype
        self._cg = []
        self._widx = []
        self._wpath = []
        self._pairs = []
        self._summ = []
        groups = []
        uses_ones = False
        for g in plan.groups:
            subs = []
            for sg in g.subgroups:
                widx_i = -1
                if sg.weight_index is not None:
                    uses_ones = uses_ones or bool(np.any(sg.weight_index == plan.weight_numel))
                    if sg.template == "mix" and not plan.shared_weights:
                        widx_i = len(self._wpath)
                        self._wpath.append(tuple(ms.Tensor(w.reshape(-1).astype(np.int32)) for w in sg.weight_index))
                    else:
                        widx_i = len(self._widx)
                        self._widx.append(ms.Tensor(sg.weight_index.astype(np.int32)))
                pairs_i = -1
                if sg.pairs is not None:
                    pairs_i = len(self._pairs)
                    self._pairs.append(ms.Tensor(sg.pairs.astype(np.int32)))
                sum_i = -1
                sum_k = sg.k1 - sg.k0
                if sg.sum_matrix is not None:
                    sum_i = len(self._summ)
                    self._summ.append(constant(sg.sum_matrix, dt))
                    sum_k = sg.sum_matrix.shape[1]
                a = g.mul1 if g.kind == "diag" else g.mul1 * g.mul2
                if sg.pairs is not None:
                    a = len(sg.pairs)
                subs.append((sg.template, sg.k0, sg.k1, pairs_i, sg.mul_out, widx_i, sg.path_k, sum_i, sum_k, a))
            x2s = (-1, -1) if g.x2_slice is None else g.x2_slice
            groups.append((g.x1_slice[0], g.x1_slice[1], g.mul1, g.d1, g.kind, x2s[0], x2s[1], g.mul2,
                           len(self._cg), g.K, tuple(subs)))
            self._cg.append(constant(g.cg, dt))
        self._groups = tuple(groups)
        self._uses_ones = uses_ones
        outs = []
        for (mul, ir), parts in zip(plan.irreps_out, plan.outputs):
            outs.append((mul, ir.dim, tuple(parts)))
        self._outs = tuple(outs)
        self._single_piece = sum(1 for mul, d, _ in outs if mul * d > 0) == 1
        self._one = constant(np.ones(1), dt)

    # ------------------------------------------------------------------------------------------------------
    def __repr__(self):
        npath = sum(int(np.prod(i.path_shape)) for i in self.instructions)
        return (f"{type(self).__name__}({self.irreps_in1.simplify()} x {self.irreps_in2.simplify()} -> "
                f"{self.irreps_out.simplify()} | {npath} paths | {self.weight_numel} weights)")

    def _group_columns(self, gmeta, x1, x2, z):
        s1, e1, mul1, d1, kind, s2, e2, mul2, cg_i, k, _ = gmeta
        if s1 == 0 and e1 == self._in1_dim:
            x1g = x1.reshape(z, mul1, d1)
        else:
            x1g = x1[:, s1:e1].reshape(z, mul1, d1)
        if s2 < 0:
            x2g = x2
        elif s2 == 0 and e2 == self._in2_dim:
            x2g = x2.reshape(z * mul2, e2 // mul2) if mul2 > 1 else x2
        else:
            x2g = x2[:, s2:e2]
            if mul2 > 1:
                x2g = x2g.reshape(z * mul2, (e2 - s2) // mul2)
        t = ops.matmul(x2g, self._cg[cg_i])  # [Z*mul2, d1*K]
        if kind == "diag":
            t = t.reshape(z * mul1, d1, k)
            a = ops.bmm(x1g.reshape(z * mul1, 1, d1), t)
            return a.reshape(z, mul1, k)
        if mul2 == 1:
            return ops.bmm(x1g, t.reshape(z, d1, k))
        t = ops.transpose(t.reshape(z, mul2, d1, k), (0, 2, 1, 3)).reshape(z, d1, mul2 * k)
        return ops.bmm(x1g, t).reshape(z, mul1 * mul2, k)

    def _apply_weights(self, smeta, a, w, z, mul1, mul2):
        template, _, _, _, mul_out, widx_i, path_k, sum_i, sum_k, na = smeta
        if template == "diag":
            if widx_i >= 0:
                if self.shared_weights:
                    a = a * ops.gather(w, self._widx[widx_i], 0)
                else:
                    a = a * ops.gather(w, self._widx[widx_i], 1)
            r = a
        elif template == "sum_v" or template == "sum_u":
            ks = a.shape[2]
            a = a.reshape(z, mul1, mul2, ks)
            if widx_i >= 0:
                if self.shared_weights:
                    a = a * ops.gather(w, self._widx[widx_i], 0)
                else:
                    a = a * ops.gather(w, self._widx[widx_i], 1)
            if template == "sum_v":
                r = a.sum(axis=2)
            else:
                r = a.sum(axis=1)
        elif self.shared_weights:
            wk = ops.gather(w, self._widx[widx_i], 0)  # [K, a, w]
            at = ops.transpose(a, (2, 0, 1))  # [K, Z, a]
            r = ops.transpose(ops.bmm(at, wk), (1, 2, 0))  # [Z, w, K]
        else:
            parts = []
            for pi in range(len(path_k)):
                p0, p1 = path_k[pi]
                wp = ops.gather(w, self._wpath[widx_i][pi], 1).reshape(z, mul_out, na)
                parts.append(ops.bmm(wp, a[:, :, p0:p1]))
            if len(parts) == 1:
                r = parts[0]
            else:
                r = ops.concat(parts, 2)
        if sum_i >= 0:
            ks = r.shape[2]
            r = ops.matmul(r.reshape(z * mul_out, ks), self._summ[sum_i]).reshape(z, mul_out, sum_k)
        return r

    def _forward(self, x1, x2, w, z):
        """``x1 [Z, dim1]``, ``x2 [Z, dim2]``, ``w`` flat ``[numel]`` / ``[Z, numel]`` (or None) -> ``[Z, dim_out]``."""
        if self._uses_ones:
            if self.weight_numel == 0:
                if self.shared_weights:
                    w = self._one.astype(x1.dtype)
                else:
                    w = ops.ones((z, 1), x1.dtype)
            elif self.shared_weights:
                w = ops.concat((w, self._one.astype(w.dtype)), 0)
            else:
                w = ops.concat((w, ops.ones((z, 1), w.dtype)), 1)
        results = []
        for gmeta in self._groups:
            a_all = self._group_columns(gmeta, x1, x2, z)
            subs = gmeta[10]
            res = []
            for smeta in subs:
                k0 = smeta[1]
                k1 = smeta[2]
                if k0 == 0 and k1 == gmeta[9]:
                    a = a_all
                else:
                    a = a_all[:, :, k0:k1]
                if smeta[3] >= 0:
                    a = ops.gather(a, self._pairs[smeta[3]], 1)
                res.append(self._apply_weights(smeta, a, w, z, gmeta[2], gmeta[7]))
            results.append(res)
        pieces = []
        for mul, d, parts in self._outs:
            if mul * d > 0:
                if len(parts) == 0:
                    pieces.append(ops.zeros((z, mul * d), x1.dtype))
                else:
                    acc = None
                    for gi, si, k0, dd in parts:
                        r = results[gi][si]
                        if not (k0 == 0 and dd == r.shape[2]):
                            r = r[:, :, k0:k0 + dd]
                        if acc is None:
                            acc = r
                        else:
                            acc = acc + r
                    pieces.append(acc.reshape(z, mul * d))
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
        lead = _broadcast_shape(x.shape[:-1], y.shape[:-1])
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
                        raise ValueError(f"{self._name}: per-sample weight must have shape "
                                         f"(..., {self.weight_numel}), got {w.shape}")
                    lead = _broadcast_shape(lead, w.shape[:-1])
        z = _prod(lead)
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
            lead = _broadcast_shape(lead, tuple(weight.shape[:-1]))
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
