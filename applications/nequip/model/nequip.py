r"""The NequIP energy model (Batzner et al., Nat. Commun. 13, 2453 (2022)).

.. math::
    E = \sum_i \big(\sigma_{z_i}\, \epsilon_i + \mu_{z_i}\big), \qquad
    \epsilon_i = \mathrm{Lin}_{out}\big(h_i^{(L)}\big),

where :math:`h^{(0)}_i` is the linear embedding of the species one-hot, :math:`h^{(t+1)} = \mathrm{Conv}_t(h^{(t)})`
are ``num_layers`` convolution layers (:class:`~applications.nequip.model.interaction.ConvLayer`) driven by the
edge harmonics :math:`Y^{l \le l_{max}}(\hat r_{ij})` ('component' normalisation) and the radial embedding
(:class:`~applications.nequip.model.radial.RadialEmbedding`), :math:`\mathrm{Lin}_{out}` keeps the scalars
(two linears: ``num_features // 2`` then 1, as NequIP's ``conv_to_output_hidden`` and
``output_hidden_to_scalar``), and :math:`\sigma_z, \mu_z` are per-species scales and shifts fitted from the
training data (:func:`~applications.nequip.model.statistics.fit_scale_shift`).

Batched, padded input (static shapes): a batch is one disjoint graph. Padded atoms have ``atom_mask = 0`` (their
energies are dropped) and padded edges are zero vectors with ``edge_mask = 0`` (their harmonics and radial
embedding are exactly zero, so they carry no message). ``batch`` gives every atom's structure index in
``[0, num_graphs)``; the number of structures is the static length of ``graph_mask``.
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops, Parameter

from mindchemistry_e3 import o3
from mindchemistry_e3.util.dtype import constant, check_float_dtype
from mindchemistry_e3.util.graph import gather_rows, segment_sum
from mindchemistry_e3.util.precision import low_precision

from .embedding import SpeciesEmbedding
from .interaction import ConvLayer, radial_mlps_stackable
from .radial import RadialEmbedding, zero_length_mask

__all__ = ["NequIP", "edge_length_and_direction"]


def edge_length_and_direction(edge_vec):
    """Edge lengths ``[E, 1]`` and unit vectors ``[E, 3]``, exactly 0 (with finite gradients) for zero vectors.

    Graph-mode clean and differentiable to second order: the "double where" of MINDSPORE_NOTES §2 written with a
    constant 0/1 mask (1 on zero vectors, outside the differentiation), ``sqrt(r2 + mask) * (1 - mask)`` and
    ``vec / (r + mask)`` -- the same values (adding 0 and multiplying by 1 are exact), gradients that are multiplies
    rather than ``Select`` and ``ZerosLike`` kernels.
    """
    r2 = (edge_vec * edge_vec).sum(-1, keepdims=True)
    zero = zero_length_mask(r2)
    r = ops.sqrt(r2 + zero) * (1 - zero)
    unit = edge_vec / (r + zero)
    return r, unit


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"NequIP: {name} must be a positive integer, got {value!r}")
    return int(value)


class NequIP(nn.Cell):
    r"""NequIP energy model on padded, batched graphs.

    Args:
        num_types (int): number of species.
        r_max (float): cutoff radius (Å). Default 4.0.
        l_max (int): maximum rotation order of features and edge harmonics. Default 1.
        parity (bool): O(3) model with features of both parities (True, NequIP's default) or SE(3) only.
        num_layers (int): interaction layers. Default 3.
        num_features (int): multiplicity of every hidden irrep. Default 32.
        num_basis (int): Bessel functions. Default 8.
        trainable_bessel (bool): trainable Bessel frequencies. Default True.
        cutoff_p (int): polynomial cutoff order. Default 6.
        radial_mlp_layers (int): hidden layers of the radial MLP. Default 2.
        radial_mlp_neurons (int): width of the radial MLP. Default 64.
        resnet (bool): residual connections where the irreps agree. Default False.
        nonlinearity_scalars (dict): ``{"e": "silu", "o": "tanh"}`` by default.
        nonlinearity_gates (dict): ``{"e": "silu", "o": "tanh"}`` by default.
        avg_num_neighbors (float): normalisation of the neighbour sum. Default None (= 1).
        per_species_scale (array-like): ``[num_types]`` scales :math:`\sigma_z` (eV). Default 1.
        per_species_shift (array-like): ``[num_types]`` shifts :math:`\mu_z` (eV). Default 0.
        scale_shift_trainable (bool): train scales and shifts. Default False.
        scalar_last_layer (bool): the last layer computes only the ``0e`` features the readout reads (NequIP
            0.19's scalar-only last layer, here with the Parameters of the full one), and each layer before it only
            the irreps the next one reads: the same checkpoints and, up to rounding, the same energies, forces and
            gradients, in about 0.7 of the small model's train step. Keyword only. Default True.
        dtype (mindspore.dtype): float dtype. Default ``mindspore.float32``.
        compute_dtype (mindspore.dtype, optional): ``mindspore.float16`` or ``mindspore.bfloat16``: the operands of
            the MatMuls of the harmonics, linears, convolutions, radial MLPs and self-connections in that dtype
            (:mod:`mindchemistry_e3.util.precision`); the per-species scale and shift, every sum over neighbours and
            atoms, and the energies stay in ``dtype`` (a float16 energy of -1,000 eV has an ulp of 1 eV).
            Default None.

    Inputs:
        - **edge_vec** (Tensor) - ``[E, 3]`` edge vectors ``pos[dst] - pos[src] + shift`` (zero on padding).
        - **node_type** (Tensor) - int32 ``[N]``.
        - **edge_src** (Tensor) - int32 ``[E]``.
        - **edge_dst** (Tensor) - int32 ``[E]``.
        - **edge_mask** (Tensor) - ``[E, 1]``.
        - **atom_mask** (Tensor) - ``[N, 1]``.
        - **batch** (Tensor) - int32 ``[N]`` structure index of every atom.
        - **graph_mask** (Tensor) - ``[B]``, 1 for real structures (its length sets the number of structures).

    Outputs:
        Tensor ``[B]``: total energy of every structure (0 for padded structures).

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> net = NequIP(2, r_max=3.0, l_max=1, num_layers=1, num_features=4, radial_mlp_neurons=8)
        >>> vec = ms.Tensor([[1., 0., 0.], [-1., 0., 0.]])
        >>> e = net(vec, ms.Tensor([0, 1], ms.int32), ms.Tensor([0, 1], ms.int32), ms.Tensor([1, 0], ms.int32),
        ...         ms.Tensor(np.ones((2, 1), np.float32)), ms.Tensor(np.ones((2, 1), np.float32)),
        ...         ms.Tensor([0, 0], ms.int32), ms.Tensor([1.0]))
        >>> e.shape
        (1,)
    """

    def __init__(self, num_types, r_max=4.0, l_max=1, parity=True, num_layers=3, num_features=32, num_basis=8,
                 trainable_bessel=True, cutoff_p=6, radial_mlp_layers=2, radial_mlp_neurons=64, resnet=False,
                 nonlinearity_scalars=None, nonlinearity_gates=None, avg_num_neighbors=None,
                 per_species_scale=None, per_species_shift=None, scale_shift_trainable=False, *,
                 scalar_last_layer=True, dtype=ms.float32, compute_dtype=None):
        super().__init__()
        self.dtype = check_float_dtype(dtype)
        self.num_types = _positive_int(num_types, "num_types")
        l_max = int(l_max)
        if l_max < 0:
            raise ValueError(f"NequIP: l_max must be >= 0, got {l_max}")
        num_layers = _positive_int(num_layers, "num_layers")
        num_features = _positive_int(num_features, "num_features")
        self.r_max = float(r_max)
        self.l_max = l_max
        self.irreps_edge_sh = o3.Irreps.spherical_harmonics(l_max, p=-1 if parity else 1)
        parities = (1, -1) if parity else (1,)
        feature_irreps_hidden = o3.Irreps([(num_features, (l, p)) for p in parities for l in range(l_max + 1)])

        low = {"dtype": dtype, "compute_dtype": compute_dtype}
        self.compute_dtype = compute_dtype
        self.embedding = SpeciesEmbedding(self.num_types, num_features, **low)
        self.radial = RadialEmbedding(r_max, num_basis, trainable_bessel, cutoff_p, dtype=dtype)
        self.sh = o3.SphericalHarmonics(list(range(l_max + 1)), normalize=False, normalization="component", **low)
        layers = []
        irreps = self.embedding.irreps_out
        for k in range(num_layers):
            # the readout reads the last layer's 0e features only
            read = "0e" if scalar_last_layer and k == num_layers - 1 else None
            layer = ConvLayer(irreps, feature_irreps_hidden, self.irreps_edge_sh, self.num_types, resnet=resnet,
                              nonlinearity_scalars=nonlinearity_scalars, nonlinearity_gates=nonlinearity_gates,
                              irreps_read=read, num_basis=num_basis, radial_mlp_layers=radial_mlp_layers,
                              radial_mlp_neurons=radial_mlp_neurons, avg_num_neighbors=avg_num_neighbors, **low)
            layers.append(layer)
            irreps = layer.irreps_out
        # and each layer before computes only what the next one reads, in its full layout (zeros elsewhere)
        for k in range(num_layers - 2, -1, -1) if scalar_last_layer else ():
            if not layers[k].restrict(layers[k + 1].input_read, keep_layout=True):
                break
        self.layers = nn.CellList(layers)
        self._radial_together = radial_mlps_stackable([layer.conv.radial_mlp for layer in layers])
        self._radial_bmm = low_precision(ops.BatchMatMul(), compute_dtype, self.dtype)
        self.irreps_hidden = irreps
        self.output_hidden = o3.Linear(irreps, o3.Irreps(f"{max(1, num_features // 2)}x0e"), **low)
        self.output = o3.Linear(self.output_hidden.irreps_out, o3.Irreps("1x0e"), **low)

        scale = np.ones(self.num_types) if per_species_scale is None else np.asarray(per_species_scale, np.float64)
        shift = np.zeros(self.num_types) if per_species_shift is None else np.asarray(per_species_shift, np.float64)
        scale = np.broadcast_to(scale, (self.num_types,)) if scale.ndim == 0 else scale
        shift = np.broadcast_to(shift, (self.num_types,)) if shift.ndim == 0 else shift
        if scale.shape != (self.num_types,) or shift.shape != (self.num_types,):
            raise ValueError(f"NequIP: per_species_scale / per_species_shift must have shape [{self.num_types}], "
                             f"got {scale.shape} and {shift.shape}")
        self.per_species_scale = Parameter(constant(scale, dtype), name="per_species_scale",
                                           requires_grad=bool(scale_shift_trainable))
        self.per_species_shift = Parameter(constant(shift, dtype), name="per_species_shift",
                                           requires_grad=bool(scale_shift_trainable))

    def atomic_energies(self, edge_vec, node_type, edge_src, edge_dst, edge_mask, atom_mask):
        """Per-atom energies ``[N]`` (0 on padded atoms)."""
        r, unit = edge_length_and_direction(edge_vec)
        edge_attr = self.sh(unit) * edge_mask
        edge_embedding = self.radial(r, edge_mask)
        node_attr, x = self.embedding(node_type)
        if self._radial_together:
            weights = self._radial_weights(edge_embedding)
            for k in range(len(self.layers)):
                x = self.layers[k].with_weight(x, node_attr, edge_attr, weights[k], edge_src, edge_dst)
        else:
            for layer in self.layers:
                x = layer(x, node_attr, edge_attr, edge_embedding, edge_src, edge_dst)
        eps = self.output(self.output_hidden(x)).reshape((-1,))
        # ops.gather: util.graph.gather_rows (a custom-bprop Cell) rounds a Parameter input to float32 when the graph
        # differentiates w.r.t. inputs and Parameters (MindSpore 2.10)
        scale = ops.gather(self.per_species_scale, node_type, 0)
        shift = ops.gather(self.per_species_shift, node_type, 0)
        return (scale * eps + shift) * atom_mask.reshape((-1,))

    def _radial_weights(self, edge_embedding):
        """Every layer's per-edge product weights (a tuple), the radial MLPs evaluated together: they share their
        input, so each hidden layer is one BatchMatMul over the layers (``[layers, E, width]``, the first on the
        input repeated for every layer) and one activation pass, instead of one chain per layer."""
        num = len(self.layers)
        mlp = self.layers[0].conv.radial_mlp
        depth = len(mlp.hs) - 1
        first = ()
        for k in range(num):
            first = first + (self.layers[k].conv.radial_mlp[0].scaled_weight(),)
        h = mlp[0].activate(self._radial_bmm(ops.tile(edge_embedding.reshape((1,) + edge_embedding.shape), (num, 1, 1)),
                                             ops.stack(first)))
        for i in range(1, depth - 1):
            w = ()
            for k in range(num):
                w = w + (self.layers[k].conv.radial_mlp[i].scaled_weight(),)
            h = mlp[i].activate(self._radial_bmm(h, ops.stack(w)))
        hidden = ops.unstack(h)
        out = ()
        for k in range(num):
            layer = self.layers[k]
            out = out + (layer.conv.radial_mlp[depth - 1].forward_with(hidden[k], layer.last_radial_weight()),)
        return out

    def construct(self, edge_vec, node_type, edge_src, edge_dst, edge_mask, atom_mask, batch, graph_mask):
        atomic = self.atomic_energies(edge_vec, node_type, edge_src, edge_dst, edge_mask, atom_mask)
        return segment_sum(atomic, batch, graph_mask.shape[0])
