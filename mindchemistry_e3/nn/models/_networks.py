r"""The message-passing stack and the two graph networks shared by e3nn's ``v2103`` and ``v2106`` model files.

The public classes live in ``v2103/*`` and ``v2106/*`` with e3nn's signatures; these bases hold what the two
versions share: a stack of (convolution, gate) pairs (:class:`MessagePassingStack`) and the networks that embed
the edges -- spherical harmonics of the edge vectors and a radial basis of their lengths with cutoff -- and pool the
node outputs per graph (:class:`SimpleNetworkBase`, :class:`AttributedNetworkBase`).
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ... import o3
from ...math import SoftOneHotLinspace
from ...util.dtype import check_float_dtype, constant
from ...util.graph import gather_rows
from ...util.second_order import SecondOrderGuard
from ...util.test import assert_auto_jitable, assert_equivariant
from ._common import Compose, GraphInputCell, batch_and_count, gate_for, radius_graph, scatter

__all__ = ["MessagePassingStack", "SimpleNetworkBase", "AttributedNetworkBase", "check_message_passing",
           "check_simple_network", "check_attributed_network"]


class MessagePassingStack(SecondOrderGuard, nn.Cell):
    r"""``Compose(convolution, gate)`` for every hidden irreps of ``irreps_node_sequence``, then a last convolution
    to its last irreps.

    Args:
        irreps_node_sequence (list[Irreps]): input, hidden ..., output node irreps.
        irreps_node_attr (Irreps): node attributes.
        irreps_edge_attr (Irreps): edge attributes.
        fc_neurons (list[int]): input and hidden sizes of the radial networks.
        num_neighbors (float): typical number of neighbours.
        convolution (type): the convolution Cell class (v2103's or v2106's).
        strict_gates (bool): v2106's gate rule (see :func:`._common.gate_for`).
        dtype (mindspore.dtype, optional): default: the default dtype.

    Inputs:
        - **node_features** (Tensor) - ``[N, irreps_node_sequence[0].dim]``.
        - **node_attr**, **edge_src**, **edge_dst**, **edge_attr**, **edge_scalars** (Tensor) - as for the
          convolution.

    Outputs:
        Tensor ``[N, irreps_node_sequence[-1].dim]``.
    """

    def __init__(self, irreps_node_sequence, irreps_node_attr, irreps_edge_attr, fc_neurons, num_neighbors,
                 convolution, strict_gates, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.num_neighbors = num_neighbors
        irreps_node_sequence = [o3.Irreps(irreps) for irreps in irreps_node_sequence]
        self.irreps_node_attr = o3.Irreps(irreps_node_attr)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.layers = nn.CellList()
        irreps_node = irreps_node_sequence[0]
        sequence = [irreps_node]
        for irreps_node_hidden in irreps_node_sequence[1:-1]:
            gate = gate_for(irreps_node, irreps_node_hidden, self.irreps_edge_attr, simplify=True,
                            strict=strict_gates, dtype=dtype)
            conv = convolution(irreps_node, self.irreps_node_attr, self.irreps_edge_attr, gate.irreps_in, fc_neurons,
                               num_neighbors, dtype=dtype)
            self.layers.append(Compose(conv, gate))
            irreps_node = gate.irreps_out
            sequence.append(irreps_node)
        self.layers.append(convolution(irreps_node, self.irreps_node_attr, self.irreps_edge_attr,
                                       irreps_node_sequence[-1], fc_neurons, num_neighbors, dtype=dtype))
        sequence.append(irreps_node_sequence[-1])
        self.irreps_node_sequence = sequence

    def construct(self, node_features, node_attr, edge_src, edge_dst, edge_attr, edge_scalars):
        for lay in self.layers:
            node_features = lay(node_features, node_attr, edge_src, edge_dst, edge_attr, edge_scalars)
        return node_features


def _hidden_irreps(mul, lmax):
    return o3.Irreps([(mul, (l, p)) for l in range(lmax + 1) for p in [-1, 1]])


class _EmbeddedGraphNetwork(GraphInputCell):
    """Edge embedding and pooling shared by the two networks (``number_of_basis`` = 10, radial MLP 10 -> 100)."""

    _basis = None  # "cosine" (v2103) or "smooth_finite" (v2106)
    number_of_basis = 10

    def _setup_embedding(self, max_radius, num_nodes, lmax, pool_nodes, dtype):
        self.lmax = lmax
        self.max_radius = max_radius
        self.num_nodes = num_nodes
        self.pool_nodes = pool_nodes
        self.sh = o3.SphericalHarmonics(list(range(lmax + 1)), True, normalization="component", dtype=dtype)
        self.embedding = SoftOneHotLinspace(0.0, max_radius, self.number_of_basis, basis=self._basis, cutoff=True,
                                            dtype=dtype)
        self._sqrt_basis = constant([self.number_of_basis ** 0.5], dtype)
        self._sqrt_nodes = constant([num_nodes ** 0.5], dtype)

    def _embed(self, pos, edge_src, edge_dst):
        """Spherical harmonics of the edge vectors and the scaled radial embedding of their lengths."""
        edge_vec = gather_rows(pos, edge_src) - gather_rows(pos, edge_dst)
        edge_length = ops.sqrt((edge_vec * edge_vec).sum(1))
        return self.sh(edge_vec), self.embedding(edge_length) * self._sqrt_basis

    def _pool(self, node_outputs, batch, num_graphs):
        if self.pool_nodes:
            return scatter(node_outputs, batch, num_graphs) / self._sqrt_nodes
        return node_outputs

    @staticmethod
    def _edge_vec(pos, edge_src, edge_dst):
        return gather_rows(pos, edge_src) - gather_rows(pos, edge_dst)


class SimpleNetworkBase(_EmbeddedGraphNetwork):
    r"""Network on the radius graph of the points, input features ``x``, no attributes (see ``SimpleNetwork``).

    Subclasses set ``_basis`` and ``_message_passing(irreps_in, irreps_hidden, irreps_out, irreps_node_attr,
    irreps_edge_attr, layers, fc_neurons, num_neighbors, dtype)``.
    """

    def __init__(self, irreps_in, irreps_out, max_radius, num_neighbors, num_nodes, mul=50, layers=3, lmax=2,
                 pool_nodes=True, *, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.mp = self._message_passing(irreps_in, _hidden_irreps(mul, lmax), irreps_out, "0e",
                                        o3.Irreps.spherical_harmonics(lmax), layers, [self.number_of_basis, 100],
                                        num_neighbors, dtype)
        self.irreps_in = self.mp.irreps_node_input
        self.irreps_out = self.mp.irreps_node_output
        self._setup_embedding(max_radius, num_nodes, lmax, pool_nodes, dtype)

    def _message_passing(self, *args):
        raise NotImplementedError

    def preprocess(self, data):
        r"""e3nn's ``preprocess``: ``(batch, x, edge_src, edge_dst, edge_vec)`` with the radius graph built on the
        host."""
        pos, x, edge_src, edge_dst, batch, _ = self.graph_inputs(data)
        return batch, x, edge_src, edge_dst, self._edge_vec(pos, edge_src, edge_dst)

    def graph_inputs(self, data):
        """``(pos, x, edge_src, edge_dst, batch, num_graphs)`` for ``construct`` from e3nn's ``data`` dict."""
        pos = data["pos"]
        batch, num_graphs = batch_and_count(data, pos)
        edge_index = self._radius_graph(pos, batch)
        return pos, data["x"], edge_index[0], edge_index[1], batch, num_graphs

    def _radius_graph(self, pos, batch):
        """e3nn's naive radius graph (v2106); v2103 uses torch_cluster's (same edges, rows (neighbour, centre))."""
        return radius_graph(pos, self.max_radius, batch)

    def construct(self, pos, node_inputs, edge_src, edge_dst, batch, num_graphs):
        edge_attr, edge_length_embedding = self._embed(pos, edge_src, edge_dst)
        node_attr = ops.ones((node_inputs.shape[0], 1), node_inputs.dtype)  # node attributes are not used here
        node_outputs = self.mp(node_inputs, node_attr, edge_src, edge_dst, edge_attr, edge_length_embedding)
        return self._pool(node_outputs, batch, num_graphs)


class AttributedNetworkBase(_EmbeddedGraphNetwork):
    r"""Network on a given graph with node attributes and edge attributes (see ``NetworkForAGraphWithAttributes``).

    Subclasses set ``_basis``, ``_message_passing`` (as :class:`SimpleNetworkBase`) and ``_graph_keys``
    (whether the radius graph replaces a missing ``edge_index`` and ``x`` a missing ``node_input``).
    """

    _graph_keys = "v2103"

    def __init__(self, irreps_node_input, irreps_node_attr, irreps_edge_attr, irreps_node_output, max_radius,
                 num_neighbors, num_nodes, mul=50, layers=3, lmax=2, pool_nodes=True, *, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.mp = self._message_passing(irreps_node_input, _hidden_irreps(mul, lmax), irreps_node_output,
                                        irreps_node_attr, self.irreps_edge_attr + o3.Irreps.spherical_harmonics(lmax),
                                        layers, [self.number_of_basis, 100], num_neighbors, dtype)
        self.irreps_node_input = self.mp.irreps_node_input
        self.irreps_node_attr = self.mp.irreps_node_attr
        self.irreps_node_output = self.mp.irreps_node_output
        self._setup_embedding(max_radius, num_nodes, lmax, pool_nodes, dtype)

    def _message_passing(self, *args):
        raise NotImplementedError

    def graph_inputs(self, data):
        r"""``(pos, node_input, node_attr, edge_attr, edge_src, edge_dst, batch, num_graphs)`` for ``construct``
        from e3nn's ``data`` dict (``pos``, ``edge_index``, ``node_input`` (v2106 also ``x``), ``node_attr``,
        ``edge_attr``, optional ``batch``; v2106 builds the radius graph when ``edge_index`` is missing)."""
        pos = data["pos"]
        batch, num_graphs = batch_and_count(data, pos)
        if "edge_index" in data or self._graph_keys == "v2103":
            edge_index = data["edge_index"]
        else:
            edge_index = radius_graph(pos, self.max_radius, batch)
        if self._graph_keys == "v2106" and "x" in data:
            node_input = data["x"]
        else:
            node_input = data["node_input"]
        return (pos, node_input, data["node_attr"], data["edge_attr"], edge_index[0], edge_index[1], batch,
                num_graphs)

    def preprocess(self, data):
        r"""e3nn's (v2106) ``preprocess``: ``(batch, node_input, node_attr, edge_attr, edge_src, edge_dst,
        edge_vec)``."""
        pos, node_input, node_attr, edge_attr, edge_src, edge_dst, batch, _ = self.graph_inputs(data)
        return batch, node_input, node_attr, edge_attr, edge_src, edge_dst, self._edge_vec(pos, edge_src, edge_dst)

    def construct(self, pos, node_input, node_attr, edge_attr, edge_src, edge_dst, batch, num_graphs):
        edge_sh, edge_length_embedding = self._embed(pos, edge_src, edge_dst)
        edge_attr = ops.concat([edge_attr, edge_sh], 1)
        node_outputs = self.mp(node_input, node_attr, edge_src, edge_dst, edge_attr, edge_length_embedding)
        return self._pool(node_outputs, batch, num_graphs)


def check_message_passing(mp, node_pos, edge_src, edge_dst, edge_attr):
    """The body of e3nn's message-passing ``test()``: output shape, equivariance, graph compilation of a layer."""
    dtype = node_pos.dtype
    rng = np.random.default_rng(1)
    num_nodes, num_edges = node_pos.shape[0], edge_src.shape[0]
    node_features = ms.Tensor(rng.standard_normal((num_nodes, 1)), dtype)
    node_attr = ms.Tensor(rng.standard_normal((num_nodes, 4)), dtype)
    edge_scalars = ms.Tensor(rng.standard_normal((num_edges, 2)), dtype)
    assert mp(node_features, node_attr, edge_src, edge_dst, edge_attr, edge_scalars).shape == (num_nodes, 3)
    assert_equivariant(mp, irreps_in=[mp.irreps_node_input, mp.irreps_node_attr, None, None, mp.irreps_edge_attr,
                                      None],
                       args_in=[node_features, node_attr, edge_src, edge_dst, edge_attr, edge_scalars],
                       irreps_out=[mp.irreps_node_output])
    assert_auto_jitable(mp.layers[0].first)


def check_simple_network(cls, dtype):
    """e3nn's ``test_simple_network``: ``cls`` runs on 5 random points."""
    net = cls("3x0e + 2x1o", "4x0e + 1x1o", max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=4, layers=1,
              dtype=dtype)
    out = net({"pos": ms.Tensor(np.random.default_rng(0).standard_normal((5, 3)), dtype),
               "x": net.irreps_in.randn(5, -1, dtype=dtype, seed=1)})
    assert out.shape == (1, net.irreps_out.dim)


def check_attributed_network(cls, dtype):
    """e3nn's ``test_network_for_a_graph_with_attributes``: ``cls`` runs on a 3-node cycle."""
    net = cls("3x0e + 2x1o", "4x0e + 1x1o", "1e", "3x0o + 1e", max_radius=2.0, num_neighbors=3.0, num_nodes=5.0,
              mul=4, layers=1, dtype=dtype)
    out = net({"pos": ms.Tensor(np.random.default_rng(0).standard_normal((3, 3)), dtype),
               "edge_index": ms.Tensor(np.array([[0, 1, 2], [1, 2, 0]]), ms.int64),
               "node_input": net.irreps_node_input.randn(3, -1, dtype=dtype, seed=1),
               "node_attr": net.irreps_node_attr.randn(3, -1, dtype=dtype, seed=2),
               "edge_attr": net.irreps_edge_attr.randn(3, -1, dtype=dtype, seed=3)})
    assert out.shape == (1, net.irreps_node_output.dim)
