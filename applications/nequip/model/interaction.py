r"""NequIP's interaction block and convolution layer (Batzner et al. 2022, Fig. 1 and eq. 3-5).

Interaction block, for node features :math:`h_i`, edge harmonics :math:`Y(\hat r_{ij})` and radial embedding
:math:`B(r_{ij})`:

.. math::
    h'_i = \mathrm{Lin}_2\Big(\frac{1}{\sqrt{\langle n\rangle}} \sum_{j \in \mathcal N(i)}
           \mathrm{TP}_{uvu}\big(\mathrm{Lin}_1(h_j),\, Y(\hat r_{ij});\ \mathrm{MLP}(B(r_{ij}))\big)\Big)
           + \mathrm{SC}(h_i, z_i)

where the ``uvu`` tensor product keeps each channel ``u`` of :math:`h_j` separate (one weight per channel and
path, produced per edge by the radial MLP), :math:`\langle n\rangle` is the average number of neighbours and the
self-connection SC is a fully connected tensor product of the node features with the species one-hot
:math:`z_i`. The convolution layer follows the block with a gate nonlinearity (scalars through SiLU/tanh by
parity, higher orders multiplied by gated scalars) and an optional residual connection.

Messages flow along the edge ``src -> dst`` (features of ``src`` are sent, summed at ``dst``); the neighbour
list is symmetric, so this is NequIP's convention.
"""
import math

import mindspore as ms
from mindspore import nn, ops

from mindchemistry_e3 import o3
from mindchemistry_e3 import nn as e3nn
from mindchemistry_e3.nn.models.gate_points_2102 import tp_path_exists  # e3nn's helper, re-exported
from mindchemistry_e3.nn._gate import gate_layout
from mindchemistry_e3.util._cell import plan_tensors
from mindchemistry_e3.util._column_map import take_columns
from mindchemistry_e3.util._column_map_np import column_map, compose, transpose
from mindchemistry_e3.util.dtype import check_float_dtype

from .readout_np import product_part, segment_columns_in

__all__ = ["InteractionBlock", "ConvLayer", "ACTIVATIONS", "activation", "radial_mlps_stackable", "tp_path_exists"]


def _shifted_softplus(x):
    """softplus(x) - log 2, from exp/log (``ops.softplus`` is only float32-accurate on float64 input)."""
    zero = ops.zeros_like(x)
    return ops.maximum(x, zero) + ops.log(ops.exp(-ops.abs(x)) + 1) - ops.log(ops.ones_like(x) * 2)


#: The activations a config may name (``model.nonlinearity_*``). silu: the library's (ops.silu's values, compact
#: first and second derivatives: fewer kernels in the force loss).
ACTIVATIONS = {"silu": e3nn.silu, "tanh": ops.tanh, "abs": ops.abs, "sigmoid": ops.sigmoid, "ssp": _shifted_softplus}


def activation(name):
    """The activation function called ``name`` (silu, tanh, abs, sigmoid, ssp = shifted softplus).

    >>> import mindspore as ms
    >>> float(activation("tanh")(ms.Tensor(0.0)))
    0.0
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def radial_mlps_stackable(mlps):
    """Whether several radial MLPs can be evaluated together on a shared input (two or more, with at least one
    hidden layer, computed alike: :meth:`~mindchemistry_e3.nn.FullyConnectedNet.same_hidden_layers`; the output
    sizes may differ).

    >>> from mindchemistry_e3 import nn as e3nn
    >>> a, b = (e3nn.FullyConnectedNet([8, 16, n], e3nn.silu) for n in (4, 6))
    >>> radial_mlps_stackable([a, b]), radial_mlps_stackable([a, e3nn.FullyConnectedNet([8, 16, 4], None)])
    (True, False)
    """
    if len(mlps) < 2 or len(mlps[0].hs) < 3 or any(layer.kind()[1] for layer in mlps[0]):
        return False
    return all(mlps[0].same_hidden_layers(mlp) for mlp in mlps[1:])


def _by_parity(irreps, names):
    """The activation of every scalar segment of ``irreps``: ``names["e"]`` for even ones, ``names["o"]`` for odd."""
    return [activation(names["e"] if ir.p == 1 else names["o"]) for _, ir in irreps]


class InteractionBlock(nn.Cell):
    r"""NequIP interaction block: Linear -> per-edge ``uvu`` tensor product with the edge harmonics (weights from
    a radial MLP) -> scatter-sum / sqrt(avg_num_neighbors) -> Linear, plus a self-connection.

    The product and the sums over edges are one :class:`~mindchemistry_e3.o3.TensorProductConv` (``tp``, no
    parameters of its own); its weights are the radial MLP's output, in the product's column order. ``Lin_2`` and the
    self-connection run as one :class:`~mindchemistry_e3.o3.StackedSum` (``linear_sum``) that reads the product's
    results before their layout map (both folded into its own column maps).

    Args:
        irreps_in (Irreps): node features in.
        irreps_out (Irreps): node features out (the following gate's input).
        irreps_edge_attr (Irreps): edge spherical harmonics.
        num_types (int): number of species (one-hot node attributes ``num_types x 0e``).
        num_basis (int): size of the radial embedding.
        radial_mlp_layers (int): hidden layers of the radial MLP.
        radial_mlp_neurons (int): width of the radial MLP.
        avg_num_neighbors (float or None): the sum over neighbours is divided by its square root.
        radial_act (str): activation of the radial MLP, ``silu`` (default) or ``ssp``.
        self_connection (bool): add the species-dependent self-connection. Default True.
        dtype (mindspore.dtype): float dtype. Default ``mindspore.float32``.
        compute_dtype (mindspore.dtype, optional): float16 / bfloat16 operands of the products of the linears,
            the convolution, the radial MLP and the self-connection (sums over neighbours in ``dtype``). Default None.

    Inputs:
        - **x** (Tensor) - node features ``[N, irreps_in.dim]``.
        - **node_attr** (Tensor) - species one-hot ``[N, num_types]``.
        - **edge_attr** (Tensor) - edge harmonics ``[E, irreps_edge_attr.dim]`` (0 on padded edges).
        - **edge_embedding** (Tensor) - radial embedding ``[E, num_basis]``.
        - **edge_src** (Tensor) - int32 ``[E]``.
        - **edge_dst** (Tensor) - int32 ``[E]``.

    Outputs:
        Tensor ``[N, irreps_out.dim]``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> blk = InteractionBlock("4x0e", "4x0e + 4x1o", "0e + 1o", num_types=2, num_basis=8,
        ...                        radial_mlp_layers=1, radial_mlp_neurons=8, avg_num_neighbors=1.0)
        >>> out = blk(ms.Tensor(np.ones((3, 4), np.float32)), ms.Tensor(np.eye(2)[[0, 1, 1]].astype(np.float32)),
        ...           ms.Tensor(np.ones((2, 4), np.float32)), ms.Tensor(np.ones((2, 8), np.float32)),
        ...           ms.Tensor([0, 1], ms.int32), ms.Tensor([1, 0], ms.int32))
        >>> out.shape
        (3, 16)
    """

    def __init__(self, irreps_in, irreps_out, irreps_edge_attr, num_types, num_basis=8, radial_mlp_layers=2,
                 radial_mlp_neurons=64, avg_num_neighbors=None, radial_act="silu", self_connection=True, *,
                 dtype=ms.float32, compute_dtype=None):
        super().__init__()
        self.dtype = check_float_dtype(dtype)
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        irreps_node_attr = o3.Irreps(f"{int(num_types)}x0e")

        low = {"dtype": dtype, "compute_dtype": compute_dtype}
        self.linear_1 = o3.Linear(self.irreps_in, self.irreps_in, **low)

        # uvu paths: every (input irrep, harmonic) pair whose product contains an irrep of irreps_out
        irreps_mid, instructions = o3.uvu_instructions(self.irreps_in, self.irreps_edge_attr, self.irreps_out)
        if not instructions:
            raise ValueError(f"InteractionBlock: no tensor-product path from {self.irreps_in} x "
                             f"{self.irreps_edge_attr} reaches any irrep of {self.irreps_out}")
        self.irreps_mid = irreps_mid
        self.instructions = instructions  # the product's uvu paths (tuples), for a restricted twin

        aan = 1.0 if avg_num_neighbors is None else float(avg_num_neighbors)
        if not aan > 0:
            raise ValueError(f"InteractionBlock: avg_num_neighbors must be > 0, got {avg_num_neighbors}")
        self.avg_num_neighbors = aan
        # gather -> uvu product with the edge harmonics -> scatter-sum / sqrt(avg_num_neighbors), fused; the radial
        # MLP delivers the weights in the product's column order (its last weight matrix's columns picked, not the
        # edge-sized output's), its parameters staying in e3nn's layout
        self.tp = o3.TensorProductConv(self.irreps_in, self.irreps_edge_attr, irreps_mid, instructions,
                                       scale=1.0 / math.sqrt(aan), permuted_weights=True, **low)
        perm = self.tp.weight_permutation
        self._weight_columns = None if perm is None else ms.Tensor(perm.astype("int32"))
        hidden = [int(radial_mlp_neurons)] * int(radial_mlp_layers)
        self.radial_mlp = e3nn.FullyConnectedNet([int(num_basis)] + hidden + [self.tp.weight_numel],
                                                 activation(radial_act), **low)
        self.linear_2 = o3.Linear(irreps_mid.simplify(), self.irreps_out, **low)
        self.self_connection = None
        self.linear_sum = None
        if self_connection:
            self.self_connection = o3.FullyConnectedTensorProduct(self.irreps_in, irreps_node_attr, self.irreps_out,
                                                                  **low)
            # Lin_2(h) + SC(x, z) as one stacked BatchMatMul (17 kernels fewer per block in the small model's train
            # step) where the sizes suit it; the weights stay the two cells' Parameters
            if self.linear_2.stack_terms() is not None and self.self_connection.stack_terms() is not None:
                self.linear_sum = self.stacked_tail()

    def construct(self, x, node_attr, edge_attr, edge_embedding, edge_src, edge_dst):
        return self.interact(x, node_attr, edge_attr, self.radial_weight(edge_embedding), edge_src, edge_dst)

    def stacked_tail(self, output_map=None):
        """``Lin_2(conv) + SC(x, z)`` as one :class:`~mindchemistry_e3.o3.StackedSum` reading the convolution's
        results before their last column map (``result_map`` folded in), optionally writing its consumer's layout
        (``output_map``); run it with :meth:`tail`."""
        return o3.StackedSum([self.linear_2, self.self_connection], input_maps=[self.tp.result_map, None],
                             output_map=output_map)

    def tail(self, stacked, x, node_attr, edge_attr, weight, edge_src, edge_dst):
        """The block through a :meth:`stacked_tail` (the product's per-edge weights given)."""
        h = self.tp(self.linear_1(x), edge_attr, weight, edge_src, edge_dst, None, False)  # before its result_map
        return stacked((h, self.self_connection.stack_features(x, node_attr)),
                       (self.linear_2.weight, self.self_connection.weight))

    def radial_weight(self, edge_embedding):
        """The per-edge weights of the product ``[E, tp.weight_numel]`` (its column order) from the radial MLP."""
        if self._weight_columns is None:
            return self.radial_mlp(edge_embedding)
        return self.radial_mlp.output_columns(edge_embedding, self._weight_columns)

    def last_radial_weight(self):
        """The applied weight of the radial MLP's last layer, its columns in the product's order (``[h, n]``)."""
        return self.radial_mlp.last_weight(self._weight_columns)

    def interact(self, x, node_attr, edge_attr, weight, edge_src, edge_dst):
        """The block with the product's per-edge weights given (``[E, tp.weight_numel]``, see
        :meth:`radial_weight`)."""
        if self.linear_sum is not None and self.linear_sum.fits(x.shape[0]):
            return self.tail(self.linear_sum, x, node_attr, edge_attr, weight, edge_src, edge_dst)
        h = self.tp(self.linear_1(x), edge_attr, weight, edge_src, edge_dst)
        h = self.linear_2(h)
        if self.self_connection is not None:
            h = h + self.self_connection(x, node_attr)
        return h


class ConvLayer(nn.Cell):
    r"""One NequIP layer: :class:`InteractionBlock` followed by a gate nonlinearity and an optional resnet.

    The output irreps are the irreps of ``feature_irreps_hidden`` that a tensor-product path can reach from
    ``irreps_in`` and the edge harmonics. Scalars go through ``nonlinearity_scalars`` (by parity), every
    ``l > 0`` irrep is multiplied by its own gate scalar (``0e`` if reachable, else ``0o``) passed through
    ``nonlinearity_gates``. The block's ``Lin_2 + SC`` writes the gate's working layout directly (``gated_tail``,
    the gate's input map folded in).

    With ``irreps_read`` (what the consumer reads, e.g. ``"0e"`` before NequIP's readout; or later,
    :meth:`restrict`) the layer computes only those outputs -- the product paths into the gate inputs they need,
    those paths' radial-weight columns, the components of ``Lin_1`` and of ``Lin_2 + SC`` they read, their
    activations and gates -- from the Parameters of the full layer: its Parameters (names, shapes, layout) are the
    full layer's, its outputs the full layer's outputs of those irreps, and the weights of the other outputs get
    zero gradients, as in the full layer whose other outputs nobody reads.

    Args:
        irreps_in (Irreps): node features in.
        feature_irreps_hidden (Irreps): candidate output irreps.
        irreps_edge_attr (Irreps): edge harmonics.
        num_types (int): number of species.
        resnet (bool): add the input to the output when the irreps agree. Default False.
        nonlinearity_scalars (dict): ``{"e": name, "o": name}``. Default ``{"e": "silu", "o": "tanh"}``.
        nonlinearity_gates (dict): ``{"e": name, "o": name}``. Default ``{"e": "silu", "o": "tanh"}``.
        irreps_read (Irreps, optional): compute only the outputs of these irreps (``irreps_out`` becomes them).
            Default None: every output.
        dtype (mindspore.dtype): float dtype. Default ``mindspore.float32``.
        **interaction_kwargs: passed to :class:`InteractionBlock`.

    Inputs:
        Same as :class:`InteractionBlock`.

    Outputs:
        Tensor ``[N, irreps_out.dim]``.

    Raises:
        ValueError: no reachable output irrep, or ``irreps_read`` with no output of its irreps.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> layer = ConvLayer("4x0e", "4x0e + 4x1o", "0e + 1o", num_types=2, num_basis=8, radial_mlp_layers=1,
        ...                   radial_mlp_neurons=8)
        >>> str(layer.irreps_out)
        '4x0e+4x1o'
        >>> last = ConvLayer("4x0e + 4x1o", "4x0e + 4x1o", "0e + 1o", num_types=2, num_basis=8, radial_mlp_layers=1,
        ...                  radial_mlp_neurons=8, irreps_read="0e")
        >>> str(last.irreps_out), last.conv.tp.weight_numel, last.read_product.weight_numel
        ('4x0e', 16, 8)
    """

    def __init__(self, irreps_in, feature_irreps_hidden, irreps_edge_attr, num_types, resnet=False,
                 nonlinearity_scalars=None, nonlinearity_gates=None, irreps_read=None, *, dtype=ms.float32,
                 **interaction_kwargs):
        super().__init__()
        self.dtype = check_float_dtype(dtype)
        nonlinearity_scalars = {"e": "silu", "o": "tanh", **(nonlinearity_scalars or {})}
        nonlinearity_gates = {"e": "silu", "o": "tanh", **(nonlinearity_gates or {})}
        self.irreps_in = o3.Irreps(irreps_in)
        feature_irreps_hidden = o3.Irreps(feature_irreps_hidden)
        irreps_edge_attr = o3.Irreps(irreps_edge_attr)

        irreps_scalars = o3.Irreps([(mul, ir) for mul, ir in feature_irreps_hidden
                                    if ir.l == 0 and tp_path_exists(self.irreps_in, irreps_edge_attr, ir)])
        irreps_gated = o3.Irreps([(mul, ir) for mul, ir in feature_irreps_hidden
                                  if ir.l > 0 and tp_path_exists(self.irreps_in, irreps_edge_attr, ir)])
        if irreps_scalars.dim == 0 and irreps_gated.dim == 0:
            raise ValueError(f"ConvLayer: no irrep of {feature_irreps_hidden} is reachable from {self.irreps_in} "
                             f"x {irreps_edge_attr}")
        gate_ir = "0e" if tp_path_exists(self.irreps_in, irreps_edge_attr, "0e") else "0o"
        irreps_gates = o3.Irreps([(mul, gate_ir) for mul, _ in irreps_gated])

        self.gate = e3nn.Gate(irreps_scalars, _by_parity(irreps_scalars, nonlinearity_scalars),
                              irreps_gates, _by_parity(irreps_gates, nonlinearity_gates), irreps_gated,
                              dtype=dtype)
        self.conv = InteractionBlock(self.irreps_in, self.gate.irreps_in, irreps_edge_attr, num_types,
                                     dtype=dtype, **interaction_kwargs)
        self.irreps_out = self.gate.irreps_out
        self.resnet = bool(resnet) and self.irreps_in == self.irreps_out
        self.gated_tail = None
        self._groups = (irreps_scalars, irreps_gates, irreps_gated)
        self._nonlinearities = (nonlinearity_scalars, nonlinearity_gates)
        self._compute_dtype = interaction_kwargs.get("compute_dtype")
        self.restricted = False
        self.keeps_layout = False
        self.input_read = o3.Irreps([(1, ir) for ir in sorted({ir for _, ir in self.irreps_in})])
        if irreps_read is not None:
            self.restrict(irreps_read)
        if not self.restricted and self.conv.linear_sum is not None:
            # the block's stacked Lin_2 + SC writes the gate's working layout (the gate's input map folded in)
            self.gated_tail = self.conv.stacked_tail(self.gate.input_map)

    def restrict(self, irreps_read, keep_layout=False):
        """Compute only the outputs of the irreps in ``irreps_read`` from now on (see the class docstring), from
        the same Parameters: the product paths into the gate inputs they need (scalars, gated irreps and their gates),
        those paths' radial columns, the components of ``Lin_1`` and ``Lin_2 + SC`` they read.

        Args:
            irreps_read (Irreps): the irreps a consumer reads.
            keep_layout (bool): write the read outputs in the full output layout (zeros elsewhere), for a consumer
                built on the full irreps (a following layer); else ``irreps_out`` becomes the read segments.

        Returns:
            bool: whether anything was left out (when every output is read, the layer stays as it is). Afterwards
            ``input_read`` holds the irreps of the input the layer reads.
        """
        if self.restricted:
            raise ValueError("ConvLayer: the layer is restricted already; restrict the full layer once")
        read = {ir for _, ir in o3.Irreps(irreps_read)}
        full_gate, conv = self.gate, self.conv
        irreps_scalars, irreps_gates, irreps_gated = self._groups
        gated_out = full_gate.irreps_out[len(full_gate.act_scalars.irreps_out):]
        if len(gated_out) != len(irreps_gated) or len(irreps_gates) != len(irreps_gated):
            raise ValueError(f"ConvLayer: cannot restrict a gate whose gated irreps {irreps_gated} do not map one to "
                             f"one onto its outputs {gated_out}")
        # the segments whose output irrep is read (an even activation makes 0o inputs 0e; a 0o gate flips parity)
        keep_s = [k for k, (_, ir) in enumerate(full_gate.act_scalars.irreps_out) if ir in read]
        keep_g = [k for k, (_, ir) in enumerate(gated_out) if ir in read]
        if not keep_s and not keep_g:
            raise ValueError(f"ConvLayer: no output of {self.irreps_out} has an irrep of {irreps_read}")
        if len(keep_s) == len(irreps_scalars) and len(keep_g) == len(irreps_gated):
            return False
        groups = (o3.Irreps([irreps_scalars[k] for k in keep_s]), o3.Irreps([irreps_gates[k] for k in keep_g]),
                  o3.Irreps([irreps_gated[k] for k in keep_g]))
        self.gate = e3nn.Gate(groups[0], _by_parity(groups[0], self._nonlinearities[0]), groups[1],
                              _by_parity(groups[1], self._nonlinearities[1]), groups[2], dtype=self.dtype)
        self.gated_tail = None
        self.restricted = True
        self.keeps_layout = bool(keep_layout)
        full_out = self.irreps_out

        # columns: the kept gate inputs in the full gate's input layout, group by group
        full_ranges = gate_layout(irreps_scalars, irreps_gates, irreps_gated)[1]
        read_ranges = gate_layout(*groups)[1]
        sources = [None] * self.gate.irreps_in.dim
        for full, kept, keep, ranges_f, ranges_r in zip(self._groups, groups, (keep_s, keep_g, keep_g), full_ranges,
                                                         read_ranges):
            full_cols, read_cols = segment_columns_in(full, ranges_f), segment_columns_in(kept, ranges_r)
            for j, k in enumerate(keep):
                for a, b in zip(read_cols[j], full_cols[k]):
                    sources[a] = [b]
        gate_columns = column_map(sources, full_gate.irreps_in.dim)  # full gate input -> the kept gate's input
        # the kept outputs in the full output layout (scalars first, then the gated irreps, segment by segment)
        columns, out_cols = range(full_out.dim), full_out.slices()
        kept_out = [c for k in keep_s for c in columns[out_cols[k]]] + \
                   [c for k in keep_g for c in columns[out_cols[len(irreps_scalars) + k]]]
        read_out = column_map([[c] for c in kept_out], full_out.dim)
        self._read_out = plan_tensors(read_out, self.dtype)
        self._write_out = plan_tensors(transpose(read_out), self.dtype)  # the kept columns back, zeros elsewhere
        if not self.keeps_layout:
            self.irreps_out = self.gate.irreps_out

        # the product paths into the kept gate inputs, fed by the components of Lin_1 they read
        needed = {ir for _, ir in self.gate.irreps_in}
        part = product_part(self.irreps_in, conv.irreps_edge_attr, conv.irreps_mid, conv.instructions, needed)
        low = {"dtype": self.dtype, "compute_dtype": self._compute_dtype}
        self.read_product = o3.TensorProductConv(part.irreps_in, conv.irreps_edge_attr, part.irreps_mid,
                                                 part.instructions, scale=1.0 / math.sqrt(conv.avg_num_neighbors),
                                                 permuted_weights=True, **low)
        perm = self.read_product.weight_permutation
        self._read_columns = ms.Tensor((part.weight_columns if perm is None else part.weight_columns[perm])
                                       .astype("int32"))
        self._read_in = None
        if conv.linear_1.stack_terms() is not None:
            self._read_in = o3.StackedSum([conv.linear_1], output_map=part.in_map)
        self._in_columns = plan_tensors(part.in_map, self.dtype)
        # Lin_2 + SC: the components of the kept gate inputs, reading the paths' results (the rest read as zero)
        self._mid_columns = plan_tensors(part.mid_map, self.dtype)
        self._gate_columns = plan_tensors(gate_columns, self.dtype)
        self._read_tail = None
        if conv.linear_sum is not None:
            self._read_tail = o3.StackedSum([conv.linear_2, conv.self_connection],
                                            input_maps=[compose(self.read_product.result_map, part.mid_map), None],
                                            output_map=compose(gate_columns, self.gate.input_map))
        # what the layer reads of its input: the paths' inputs, the self-connection's, the resnet's
        reads = {ir for _, ir in part.irreps_in}
        if conv.self_connection is not None:
            sc = conv.self_connection
            reads |= {sc.irreps_in1[ins.i_in1].ir for ins in sc.instructions if sc.irreps_out[ins.i_out].ir in needed}
        if self.resnet:
            reads |= {ir for _, ir in self.gate.irreps_out}
        self.input_read = o3.Irreps([(1, ir) for ir in sorted(reads)])
        return True

    def construct(self, x, node_attr, edge_attr, edge_embedding, edge_src, edge_dst):
        return self.with_weight(x, node_attr, edge_attr, self.radial_weight(edge_embedding), edge_src, edge_dst)

    def radial_weight(self, edge_embedding):
        """The per-edge weights of the layer's product ``[E, n]`` (its column order) from the radial MLP."""
        if self.restricted:
            return self.conv.radial_mlp.output_columns(edge_embedding, self._read_columns)
        return self.conv.radial_weight(edge_embedding)

    def last_radial_weight(self):
        """The applied weight of the radial MLP's last layer, the columns the layer's product takes (``[h, n]``)."""
        if self.restricted:
            return self.conv.radial_mlp.last_weight(self._read_columns)
        return self.conv.last_radial_weight()

    def with_weight(self, x, node_attr, edge_attr, weight, edge_src, edge_dst):
        """The layer with its product's per-edge weights given (:meth:`radial_weight`)."""
        if self.restricted:
            h = self._read(x, node_attr, edge_attr, weight, edge_src, edge_dst)
            if self.keeps_layout:
                h = take_columns(h, self._write_out)
                return x + h if self.resnet else h
            return take_columns(x, self._read_out) + h if self.resnet else h
        if self.gated_tail is not None and self.gated_tail.fits(x.shape[0]):
            h = self.gate(self.conv.tail(self.gated_tail, x, node_attr, edge_attr, weight, edge_src, edge_dst), True)
        else:
            h = self.gate(self.conv.interact(x, node_attr, edge_attr, weight, edge_src, edge_dst))
        if self.resnet:
            h = x + h
        return h

    def _read(self, x, node_attr, edge_attr, weight, edge_src, edge_dst):
        """The read outputs: the components of Lin_1 the kept paths read -> those paths -> the kept gate inputs of
        Lin_2 + SC -> the kept gate."""
        conv = self.conv
        if self._read_in is not None and self._read_in.fits(x.shape[0]):
            h = self._read_in((x,), (conv.linear_1.weight,))
        else:
            h = take_columns(conv.linear_1(x), self._in_columns)
        if self._read_tail is not None and self._read_tail.fits(x.shape[0]):
            h = self.read_product(h, edge_attr, weight, edge_src, edge_dst, None, False)  # before its result_map
            return self.gate(self._read_tail((h, conv.self_connection.stack_features(x, node_attr)),
                                             (conv.linear_2.weight, conv.self_connection.weight)), True)
        h = conv.linear_2(take_columns(self.read_product(h, edge_attr, weight, edge_src, edge_dst), self._mid_columns))
        if conv.self_connection is not None:
            h = h + conv.self_connection(x, node_attr)
        return self.gate(take_columns(h, self._gate_columns))
