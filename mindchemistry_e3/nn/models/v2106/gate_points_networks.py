r"""e3nn's ``v2106.gate_points_networks``: two networks on top of :class:`.gate_points_message_passing.MessagePassing`
-- ``SimpleNetwork`` (radius graph of the points, input features only) and ``NetworkForAGraphWithAttributes``
(a given graph with node and edge attributes). Edges are embedded by spherical harmonics (up to ``lmax``) and 10
``smooth_finite`` radial functions of their length with cutoff at ``max_radius``.

Same constructor arguments, parameter names and outputs as e3nn 0.6.0. ``net(data)`` takes e3nn's dict; the
graph is built on the host and ``construct`` -- the message-passing core -- runs on the Tensors of
``net.graph_inputs(data)``, in GRAPH_MODE too. :func:`test_simple_network` and
:func:`test_network_for_a_graph_with_attributes` are e3nn's tests of this file (smaller sizes).

>>> net = SimpleNetwork("3x0e + 2x1o", "4x0e + 1x1o", max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=4,
...                     layers=1)
>>> net.irreps_in, net.irreps_out
(3x0e+2x1o, 4x0e+1x1o)
"""
import mindspore as ms

from ....math import soft_one_hot_linspace  # noqa: F401  (e3nn's module namespace)
from .._common import radius_graph, scatter  # noqa: F401
from .._networks import (AttributedNetworkBase, SimpleNetworkBase, check_attributed_network,
                         check_simple_network)
from .gate_points_message_passing import MessagePassing

__all__ = ["SimpleNetwork", "NetworkForAGraphWithAttributes", "MessagePassing", "radius_graph", "scatter",
           "soft_one_hot_linspace", "test_simple_network", "test_network_for_a_graph_with_attributes"]


def _message_passing(irreps_in, irreps_hidden, irreps_out, irreps_node_attr, irreps_edge_attr, layers, fc_neurons,
                     num_neighbors, dtype):
    return MessagePassing([irreps_in] + layers * [irreps_hidden] + [irreps_out], irreps_node_attr, irreps_edge_attr,
                          fc_neurons, num_neighbors, dtype=dtype)


class SimpleNetwork(SimpleNetworkBase):
    r"""Network on the radius graph of the points with input features ``x`` (no attributes).

    Args:
        irreps_in (Irreps): input node features.
        irreps_out (Irreps): output features.
        max_radius (float): cutoff radius of the graph.
        num_neighbors (float): typical number of neighbours.
        num_nodes (float): typical number of nodes per graph.
        mul (int): multiplicity of each hidden irrep ``l = 0 .. lmax``, both parities. Default: 50.
        layers (int): number of gated layers. Default: 3.
        lmax (int): largest ``l`` of the hidden irreps and edge spherical harmonics. Default: 2.
        pool_nodes (bool): sum the outputs per graph, divided by :math:`\sqrt{\text{num\_nodes}}`. Default: True.
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **data** (dict) - ``pos`` ``[N, 3]``, ``x`` ``[N, irreps_in.dim]``, optional ``batch`` int ``[N]``; or
          the Tensors of :meth:`graph_inputs`.

    Outputs:
        Tensor ``[num_graphs, irreps_out.dim]`` (``[N, irreps_out.dim]`` without ``pool_nodes``).

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> net = SimpleNetwork("0e", "1o", max_radius=2.5, num_neighbors=3.0, num_nodes=4.0, mul=2, layers=1)
        >>> rng = np.random.default_rng(0)
        >>> net({"pos": ms.Tensor(rng.standard_normal((4, 3)), ms.float32),
        ...      "x": ms.Tensor(rng.standard_normal((4, 1)), ms.float32)}).shape
        (1, 3)
    """

    _basis = "smooth_finite"

    def _message_passing(self, *args):
        return _message_passing(*args)


class NetworkForAGraphWithAttributes(AttributedNetworkBase):
    r"""Network on a graph with node attributes and edge attributes (the radius graph if ``edge_index`` is
    missing); edge attributes are ``edge_attr`` followed by the spherical harmonics of the edge vectors.

    Args:
        irreps_node_input (Irreps): input node features.
        irreps_node_attr (Irreps): node attributes.
        irreps_edge_attr (Irreps): given edge attributes.
        irreps_node_output (Irreps): output features.
        max_radius, num_neighbors, num_nodes, mul, layers, lmax, pool_nodes, dtype: as in :class:`SimpleNetwork`.

    Inputs:
        - **data** (dict) - ``pos``, ``x`` or ``node_input``, ``node_attr``, ``edge_attr`` (one row per edge),
          optional ``edge_index`` int ``[2, E]`` and ``batch``; or the Tensors of :meth:`graph_inputs`.

    Outputs:
        Tensor ``[num_graphs, irreps_node_output.dim]`` (per node without ``pool_nodes``).

    Supported Platforms:
        ``CPU``

    Examples:
        >>> net = NetworkForAGraphWithAttributes("0e", "0e", "1e", "0e", 2.0, 3.0, 4.0, mul=2, layers=1)
        >>> net.mp.irreps_edge_attr
        1x1e+1x0e+1x1o+1x2e
    """

    _basis = "smooth_finite"
    _graph_keys = "v2106"

    def _message_passing(self, *args):
        return _message_passing(*args)


def test_simple_network(dtype=ms.float64):
    """e3nn's ``test_simple_network``: the network runs on 5 random points."""
    check_simple_network(SimpleNetwork, dtype)


def test_network_for_a_graph_with_attributes(dtype=ms.float64):
    """e3nn's ``test_network_for_a_graph_with_attributes``: the network runs on a 3-node cycle."""
    check_attributed_network(NetworkForAGraphWithAttributes, dtype)
