r"""e3nn's ``gate_points_2101`` (January 2021): a point-cloud network of convolutions with self-interactions and
gates, exactly equivariant to :math:`E(3)`.

Same constructor arguments, parameter names (``layers.0.first.sc.weight``, ...) and outputs as e3nn 0.6.0's
``e3nn.nn.models.gate_points_2101``. ``net(data)`` takes e3nn's dict (``pos``, optional ``x``, ``z``,
``batch``); the neighbour list is built on the host and ``construct`` -- the message-passing core -- runs on
Tensors, in GRAPH_MODE too::

    args = net.graph_inputs(data)          # (pos, x, z, edge_src, edge_dst, batch, num_graphs)
    forces = -ms.grad(net, grad_position=0)(*args)   # d(sum of outputs)/d(pos), any mode

>>> net = Network("0e", "4x0e + 2x0o + 2x1o + 2x1e", "0e", None, "0e + 1o", layers=1, max_radius=2.0,
...               number_of_basis=3, radial_layers=1, radial_neurons=8, num_neighbors=2.0, num_nodes=4.0)
>>> [n for n, _ in net.parameters_and_names()][:3]
['layers.0.first.sc.weight', 'layers.0.first.lin1.weight', 'layers.0.first.fc.layer0.weight']
"""
import math

from mindspore import nn, ops

from ... import o3
from ...math import soft_one_hot_linspace  # noqa: F401  (e3nn's module namespace)
from ...math import SoftOneHotLinspace
from ...o3 import FullyConnectedTensorProduct, TensorProduct  # noqa: F401  (e3nn's module namespace)
from ...util.dtype import check_float_dtype, constant
from ...util.graph import gather_rows
from ...util.jit import compile_mode
from .. import FullyConnectedNet, Gate  # noqa: F401  (e3nn's module namespace)
from ._common import (Compose, GraphInputCell, batch_and_count, gate_for, radius_graph, scatter, smooth_cutoff,
                      tp_path_exists)
from ._points_convolution import SelfConnectedConvolution

__all__ = ["Convolution", "Network", "Compose", "smooth_cutoff", "tp_path_exists", "scatter", "radius_graph",
           "FullyConnectedNet", "FullyConnectedTensorProduct", "Gate", "TensorProduct", "compile_mode",
           "soft_one_hot_linspace"]


@compile_mode("script")
class Convolution(SelfConnectedConvolution):
    r"""Equivariant convolution: self-connection, linear, edge tensor product (weights from an MLP of the edge
    length embedding), linear, mixed by :math:`\sin(\pi/8)` / :math:`\cos(\pi/8)`.

    Args:
        irreps_in (Irreps): input node features.
        irreps_node_attr (Irreps): node attributes.
        irreps_edge_attr (Irreps): edge attributes.
        irreps_out (Irreps): output node features.
        number_of_basis (int): size of the edge length embedding.
        radial_layers (int): hidden layers of the radial network.
        radial_neurons (int): neurons per hidden layer of the radial network.
        num_neighbors (float): typical number of neighbours (the sum is divided by its square root).
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **node_input** (Tensor) - ``[N, irreps_in.dim]``.
        - **node_attr** (Tensor) - ``[N, irreps_node_attr.dim]``.
        - **edge_src**, **edge_dst** (Tensor) - int ``[E]``.
        - **edge_attr** (Tensor) - ``[E, irreps_edge_attr.dim]``.
        - **edge_length_embedded** (Tensor) - ``[E, number_of_basis]``.

    Outputs:
        Tensor ``[N, irreps_out.dim]``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> conv = Convolution("0e + 1o", "0e", "0e + 1o", "0e + 1o", 3, 1, 8, 2.0)
        >>> conv.tp.weight_numel, conv.fc.hs
        (4, [3, 8, 4])
    """

    def __init__(self, irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out, number_of_basis, radial_layers,
                 radial_neurons, num_neighbors, *, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_node_attr = o3.Irreps(irreps_node_attr)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.irreps_out = o3.Irreps(irreps_out)
        self.num_neighbors = num_neighbors
        self._build(self.irreps_in, self.irreps_node_attr, self.irreps_edge_attr, self.irreps_out,
                    [number_of_basis] + radial_layers * [radial_neurons], num_neighbors, None, dtype)
        self._c_s = constant([math.sin(math.pi / 8)], dtype)
        self._c_x = constant((1 - self._sc_mask) + math.cos(math.pi / 8) * self._sc_mask, dtype)

    def construct(self, node_input, node_attr, edge_src, edge_dst, edge_attr, edge_length_embedded):
        s, _, x = self._convolve(node_input, node_attr, edge_src, edge_dst, edge_attr, edge_length_embedded)
        return self._c_s * s + self._c_x * x


class Network(GraphInputCell):
    r"""Equivariant network: ``layers`` (convolution, gate) pairs and a last convolution, on the radius graph
    of the points; outputs summed per graph and divided by :math:`\sqrt{\text{num\_nodes}}` (``reduce_output``).

    Edge attributes :math:`h(r/r_{max})\, Y(\vec r / r)` (spherical harmonics of ``irreps_edge_attr``, smooth
    cutoff :math:`h`); edge length embedding: ``number_of_basis`` Gaussians on ``[0, max_radius]`` times
    :math:`\sqrt{\text{number\_of\_basis}}`.

    Args:
        irreps_in (Irreps or None): input node features (None: a constant 1 per node).
        irreps_hidden (Irreps): hidden features.
        irreps_out (Irreps): output features.
        irreps_node_attr (Irreps or None): node attributes (None: a constant 1 per node).
        irreps_edge_attr (Irreps): spherical harmonics of the edges.
        layers (int): number of gates.
        max_radius (float): cutoff radius of the graph.
        number_of_basis (int): size of the edge length embedding.
        radial_layers (int): hidden layers of the radial networks.
        radial_neurons (int): neurons per hidden layer of the radial networks.
        num_neighbors (float): typical number of neighbours within ``max_radius``.
        num_nodes (float): typical number of nodes per graph.
        reduce_output (bool): sum the node outputs per graph. Default: True.
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **data** (dict) - ``pos`` ``[N, 3]``, optional ``x`` ``[N, irreps_in.dim]``, ``z``
          ``[N, irreps_node_attr.dim]``, ``batch`` int ``[N]``; or the Tensors of :meth:`graph_inputs`.

    Outputs:
        Tensor ``[num_graphs, irreps_out.dim]`` (``[N, irreps_out.dim]`` without ``reduce_output``).

    Raises:
        ValueError: ``x`` / ``z`` given or missing against ``irreps_in`` / ``irreps_node_attr``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> net = Network(None, "4x0e + 2x1o", "1o", None, "0e + 1o", layers=1, max_radius=2.5,
        ...               number_of_basis=3, radial_layers=1, radial_neurons=8, num_neighbors=2.0, num_nodes=4.0)
        >>> pos = ms.Tensor(np.random.default_rng(0).standard_normal((4, 3)), ms.float32)
        >>> net({"pos": pos}).shape
        (1, 3)
    """

    def __init__(self, irreps_in, irreps_hidden, irreps_out, irreps_node_attr, irreps_edge_attr, layers,
                 max_radius, number_of_basis, radial_layers, radial_neurons, num_neighbors, num_nodes,
                 reduce_output=True, *, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.dtype = dtype
        self.max_radius = max_radius
        self.number_of_basis = number_of_basis
        self.num_neighbors = num_neighbors
        self.num_nodes = num_nodes
        self.reduce_output = reduce_output

        self.irreps_in = o3.Irreps(irreps_in) if irreps_in is not None else None
        self.irreps_hidden = o3.Irreps(irreps_hidden)
        self.irreps_out = o3.Irreps(irreps_out)
        self.irreps_node_attr = o3.Irreps(irreps_node_attr) if irreps_node_attr is not None else o3.Irreps("0e")
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.input_has_node_in = irreps_in is not None
        self.input_has_node_attr = irreps_node_attr is not None
        self._setup_edge_features(dtype)

        irreps = self.irreps_in if self.irreps_in is not None else o3.Irreps("0e")
        conv_args = (self.irreps_node_attr, self.irreps_edge_attr)
        conv_rest = (self._number_of_edge_features, radial_layers, radial_neurons, num_neighbors)
        self.layers = nn.CellList()
        for _ in range(layers):
            gate = gate_for(irreps, self.irreps_hidden, self.irreps_edge_attr, dtype=dtype)
            conv = self._convolution(irreps, *conv_args, gate.irreps_in, *conv_rest, dtype=dtype)
            irreps = gate.irreps_out
            self.layers.append(Compose(conv, gate))
        self.layers.append(self._convolution(irreps, *conv_args, self.irreps_out, *conv_rest, dtype=dtype))

        self.sh = o3.SphericalHarmonics(self.irreps_edge_attr, True, normalization="component", dtype=dtype)
        self.embedding = SoftOneHotLinspace(0.0, max_radius, number_of_basis, basis="gaussian", cutoff=False,
                                            dtype=dtype)
        self._sqrt_basis = constant([number_of_basis ** 0.5], dtype)
        self._max_radius = constant([max_radius], dtype)
        self._sqrt_nodes = constant([num_nodes ** 0.5], dtype)

    _convolution = Convolution

    def _setup_edge_features(self, dtype):
        """The radial networks' input: the edge length embedding (2102 adds the scalar node attributes)."""
        del dtype
        self._number_of_edge_features = self.number_of_basis

    def _edge_features(self, edge_length_embedded, z, edge_src, edge_dst):  # pylint: disable=unused-argument
        return edge_length_embedded

    def graph_inputs(self, data):
        r"""``(pos, x, z, edge_src, edge_dst, batch, num_graphs)`` for ``construct``, from e3nn's ``data`` dict:
        the radius graph is built on the host; missing ``x`` / ``z`` become ones, as in e3nn.

        Raises:
            ValueError: ``x`` missing though ``irreps_in`` is set, or ``z`` missing though ``irreps_node_attr`` is
                not ``0e``.
        """
        pos = data["pos"]
        batch, num_graphs = batch_and_count(data, pos)
        edge_index = radius_graph(pos, self.max_radius, batch)
        if self.input_has_node_in and "x" in data:
            x = data["x"]
        elif self.irreps_in is not None:
            raise ValueError(f"{type(self).__name__}: data has no 'x' though irreps_in={self.irreps_in}")
        else:
            x = ops.ones((pos.shape[0], 1), pos.dtype)
        if self.input_has_node_attr and "z" in data:
            z = data["z"]
        elif self.irreps_node_attr != o3.Irreps("0e"):
            raise ValueError(f"{type(self).__name__}: data has no 'z' though "
                             f"irreps_node_attr={self.irreps_node_attr}")
        else:
            z = ops.ones((pos.shape[0], 1), pos.dtype)
        return pos, x, z, edge_index[0], edge_index[1], batch, num_graphs

    def construct(self, pos, x, z, edge_src, edge_dst, batch, num_graphs):
        edge_vec = gather_rows(pos, edge_src) - gather_rows(pos, edge_dst)
        edge_sh = self.sh(edge_vec)
        edge_length = ops.sqrt((edge_vec * edge_vec).sum(1))
        edge_length_embedded = self.embedding(edge_length) * self._sqrt_basis
        edge_attr = smooth_cutoff(edge_length / self._max_radius).reshape(-1, 1) * edge_sh
        edge_features = self._edge_features(edge_length_embedded, z, edge_src, edge_dst)
        for lay in self.layers:
            x = lay(x, z, edge_src, edge_dst, edge_attr, edge_features)
        if self.reduce_output:
            return scatter(x, batch, num_graphs) / self._sqrt_nodes
        return x
