r"""``o3.TensorProductConv``: the fused gather -> tensor product -> scatter-sum of e3nn-style convolutions.

.. math::
    y_i = c \sum_{e:\ \mathrm{dst}(e) = i} \mathrm{TP}\big(x_{\mathrm{src}(e)},\ a_e;\ w_e\big)

equals ``scatter(TensorProduct(..., shared_weights=False)(x[src], a, w), dst) * c`` (e3nn 0.6.0's
normalisation and flat weight layout), without the edge-sized intermediate of the unfused form: the plan
(:mod:`._conv_plan`, numpy) groups all paths of an input multiplicity into one MatMul and one BatchMatMul,
applies every weight with one multiply (``uvu``) or one output-stationary BatchMatMul per output irrep (``uvw``),
sums at ``dst`` once, and moves the layout changes to the node side. Instructions the plan cannot fuse (modes
other than weighted ``uvu`` / ``uvw``, edge attributes of multiplicity > 1) run unfused through
:class:`~mindchemistry_e3.o3.TensorProduct`, gather and segment sum, so every instruction list is accepted.

On a CPU target (no ``compute_dtype``) a plan of weighted ``uvu`` paths runs instead as two generated C++ kernels,
the gather and the sum inside their loops, in e3nn's layouts (:mod:`._uvu_cpu`; ``native`` is that Cell, and then
``weight_permutation`` and ``result_map`` are None).
"""
import numpy as np
from mindspore import ops

from .._irreps import Irreps
from ...util._cell import PlanCell, plan_tensors
from ...util._column_map_np import apply_column_map
from ...util.dtype import constant
from ...util.graph import gather_rows, segment_sum
from ._conv_run import run_conv_plan
from ._conv_plan import build_conv_plan, conv_plan_support
from ._plan import normalize_instructions
from ._tensor_product import TensorProduct
from ._uvu_cpu import fused_uvu_product

__all__ = ["TensorProductConv"]


class TensorProductConv(PlanCell):
    r"""Convolution: per-edge tensor product of source-node features and edge attributes, summed at the
    destination nodes.

    ``conv(x, a, w, src, dst)`` equals ``segment_sum(tp(x[src], a, w), dst, N) * scale`` with
    ``tp = TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions, shared_weights=False)`` -- the same
    instructions, normalisation and weight layout -- executed as a fused plan (see the module docstring)
    whenever the paths are weighted ``uvu`` / ``uvw`` on multiplicity-1 edge attributes (NequIP's and e3nn's
    ``gate_points`` convolutions), and as exactly that unfused expression otherwise (``fused`` says which).

    Args:
        irreps_in1 (Irreps): node features.
        irreps_in2 (Irreps): edge attributes (e.g. spherical harmonics of the edge vectors).
        irreps_out (Irreps): output node features.
        instructions (list[tuple]): ``(i_in1, i_in2, i_out, mode, has_weight[, path_weight])`` as in
            :class:`~mindchemistry_e3.o3.TensorProduct`.
        in1_var, in2_var, out_var, irrep_normalization, path_normalization: as in
            :class:`~mindchemistry_e3.o3.TensorProduct`.
        scale (float): constant factor on the sum, e.g. ``1 / sqrt(avg_num_neighbors)``; keyword only. Default 1.
        permuted_weights (bool): the ``weight`` input comes with its columns already in the plan's order,
            ``weight[:, j] = e3nn_weight[:, weight_permutation[j]]`` -- e.g. from a radial network whose last weight
            matrix has its columns permuted (:meth:`~mindchemistry_e3.nn.FullyConnectedNet.output_columns`), which
            saves a gather of the edge-sized weights (and its gradient) per call; keyword only. Default False.
        lowering (str): how each edge's ``[K, D]`` operator meets its source features: ``"bmm"`` (default: one
            BatchMatMul ``[E, K, D] @ [E, D, m]``, fastest on CPU) or ``"gemm"`` (the outer products of the edge
            attributes and the source features, then **one** 2-D MatMul ``[K, d2 * D] @ [d2 * D, E * m]`` whose
            inner and outer dimensions are large -- the shape of a matrix unit; measured in
            ``benchmarks/RESULTS.md``); keyword only.
        dtype (mindspore.dtype): float dtype of the constants and inputs; keyword only. Default: the default
            dtype (``get_default_dtype()``).
        compute_dtype (mindspore.dtype, optional): ``mindspore.float16`` or ``mindspore.bfloat16``: the MatMul /
            BatchMatMul operands in that dtype; their results, the weight multiply, the sum over neighbours and the
            output in ``dtype`` (:mod:`mindchemistry_e3.util.precision`); keyword only. Default None.

    Inputs:
        - **node_features** (Tensor) - ``[N, irreps_in1.dim]``.
        - **edge_attr** (Tensor) - ``[E, irreps_in2.dim]``.
        - **weight** (Tensor) - ``[E, weight_numel]`` per-edge weights (e3nn's flat layout, or the plan's with
          ``permuted_weights``), or ``[weight_numel]`` shared by all edges.
        - **edge_src** (Tensor) - int32 ``[E]``: the node each edge reads.
        - **edge_dst** (Tensor) - int32 ``[E]``: the node each edge writes.
        - **num_nodes** (int, optional) - rows of the output (default ``N``).
        - **mapped** (bool, optional) - False: the node-side results before their last column map,
          ``[num_nodes, width]`` with ``output = results @ result_map``, for a consumer that folds ``result_map``
          into its own input map (:class:`~mindchemistry_e3.o3.StackedSum`). Default True.

    Outputs:
        Tensor ``[num_nodes, irreps_out.dim]`` (``mapped=False``: ``[num_nodes, width]``).

    Attributes:
        fused (bool): whether the fused plan runs (else ``unfused_reason`` says why not).
        native (mindspore.nn.Cell or None): the fused CPU kernels that run instead of the plan (see the module doc).
        weight_numel (int): per-edge weights.
        weight_permutation (numpy.ndarray or None): the plan's order of e3nn's weight columns (None: the same).
        result_map (ColumnMap or None): the layout of the results with ``mapped=False`` -> e3nn's (None: the same).

    Raises:
        ValueError: bad instructions (as :class:`~mindchemistry_e3.o3.TensorProduct`), or inputs of the wrong
            shape or dtype.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> from mindchemistry_e3.o3 import TensorProductConv
        >>> conv = TensorProductConv("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o",
        ...                          [(0, 1, 1, "uvu", True), (0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True)])
        >>> x, a = np.ones((3, 16), np.float32), np.ones((2, 4), np.float32)
        >>> w = np.ones((2, conv.weight_numel), np.float32)
        >>> conv(x, a, w, ms.Tensor([0, 1], ms.int32), ms.Tensor([1, 2], ms.int32)).shape
        (3, 16)
        >>> conv.fused
        True
    """

    def __init__(self, irreps_in1, irreps_in2, irreps_out, instructions, in1_var=None, in2_var=None,
                 out_var=None, irrep_normalization=None, path_normalization=None, *, scale=1.0,
                 permuted_weights=False, lowering="bmm", dtype=None, compute_dtype=None):
        irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
        super().__init__(f"TensorProductConv({irreps_in1} x {irreps_in2} -> {irreps_out})", dtype, compute_dtype)
        self.irreps_in1, self.irreps_in2, self.irreps_out = irreps_in1, irreps_in2, irreps_out
        norm = dict(in1_var=in1_var, in2_var=in2_var, out_var=out_var, irrep_normalization=irrep_normalization,
                    path_normalization=path_normalization)
        try:
            self.instructions = normalize_instructions(irreps_in1, irreps_in2, irreps_out, instructions, **norm)
        except ValueError as err:  # name this module, not the TensorProduct whose rules it shares
            raise ValueError(str(err).replace("TensorProduct(", "TensorProductConv(", 1)) from None
        self.weight_numel = sum(int(np.prod(ins.path_shape)) for ins in self.instructions if ins.has_weight)
        self.scale = float(scale)
        self.unfused_reason = conv_plan_support(irreps_in1, irreps_in2, irreps_out, self.instructions)
        self.fused = self.unfused_reason is None
        self._dims = (irreps_in1.dim, irreps_in2.dim, irreps_out.dim)
        if lowering not in ("bmm", "gemm"):
            raise ValueError(f"{self._name}: lowering must be 'bmm' or 'gemm', got {lowering!r}")
        self.lowering = lowering
        self.weight_permutation = None
        self.result_map = None
        self.native = None
        if self.fused:
            plan = build_conv_plan(irreps_in1, irreps_in2, irreps_out, self.instructions, scale=self.scale,
                                   gemm=lowering == "gemm")
            if self.compute_dtype is None:  # on CPU, uvu paths: two generated C++ kernels in e3nn's layouts
                self.native = fused_uvu_product(irreps_in1, irreps_in2, irreps_out, self.instructions, self.dtype,
                                                conv=True, scale=self.scale)
            if plan.weight_map is not None and self.native is None:
                # the permutation read off the plan's map applied to column numbers
                self.weight_permutation = apply_column_map(plan.weight_map, np.arange(self.weight_numel)[None])[0]
                if permuted_weights:
                    plan = plan._replace(weight_map=None)
            self.result_map = None if self.native is not None else plan.out_map
            self.plan = plan_tensors(plan, self.dtype)
            self.tp = None
        else:
            self.plan = None
            self.tp = TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions, shared_weights=False,
                                    internal_weights=False, dtype=self.dtype, compute_dtype=self.compute_dtype,
                                    **norm)
            self._scale = constant([self.scale], self.dtype)

    def __repr__(self):
        return (f"{type(self).__name__}({self.irreps_in1.simplify()} x {self.irreps_in2.simplify()} -> "
                f"{self.irreps_out.simplify()} | {len(self.instructions)} paths | {self.weight_numel} weights | "
                f"{'fused' if self.fused else 'unfused: ' + self.unfused_reason})")

    def _check(self, x, a, w, src, dst):
        d1, d2, _ = self._dims
        if x.ndim != 2 or x.shape[1] != d1:
            raise ValueError(f"{self._name}: node_features must have shape [N, {d1}], got {x.shape}")
        if a.ndim != 2 or a.shape[1] != d2:
            raise ValueError(f"{self._name}: edge_attr must have shape [E, {d2}], got {a.shape}")
        e = a.shape[0]
        if src.shape != (e,) or dst.shape != (e,):
            raise ValueError(f"{self._name}: edge_src and edge_dst must have shape [E] = [{e}] (the rows of "
                             f"edge_attr), got {src.shape} and {dst.shape}")
        if w.shape != (e, self.weight_numel) and w.shape != (self.weight_numel,):
            raise ValueError(f"{self._name}: weight must have shape [E, weight_numel] = [{e}, {self.weight_numel}] "
                             f"(per edge) or [{self.weight_numel}] (shared), got {w.shape}")
        self.check_dtype(x, a, w)

    def construct(self, node_features, edge_attr, weight, edge_src, edge_dst, num_nodes=None, mapped=True):
        self._check(node_features, edge_attr, weight, edge_src, edge_dst)
        n = node_features.shape[0] if num_nodes is None else num_nodes
        e = edge_attr.shape[0]
        if weight.ndim == 1:
            weight = ops.broadcast_to(weight.reshape(1, -1), (e, self.weight_numel))
        if self.tp is not None:
            messages = self.tp(gather_rows(node_features, edge_src), edge_attr, weight)
            return segment_sum(messages, edge_dst, n) * self._scale
        if self.native is None:
            return self._fused(node_features, edge_attr, weight, edge_src, edge_dst, n, mapped)
        if n == node_features.shape[0]:
            return self.native(node_features, edge_attr, weight, edge_src, edge_dst)
        return self._fused(node_features, edge_attr, weight, edge_src, edge_dst, n)  # result_map is None

    def _fused(self, x, a, weight, src, dst, n, mapped=True):
        """Execute the plan (steps of :func:`~mindchemistry_e3.o3._tensor_product._conv_plan.execute_conv_plan`)."""
        return run_conv_plan(self, self.plan, x, a, weight, src, dst, n, self.lowering == "gemm", mapped)
