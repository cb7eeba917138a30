r"""e3nn's ``v2103.gate_points_networks``: ``SimpleNetwork`` and ``NetworkForAGraphWithAttributes`` on top of the
v2103 :class:`.gate_points_message_passing.MessagePassing` (edge lengths embedded by 10 ``cosine`` functions with
cutoff).

Same constructor arguments, parameter names and outputs as e3nn 0.6.0; ``net(data)`` as in
:mod:`..v2106.gate_points_networks` (here ``edge_index`` and ``node_input`` are required by
``NetworkForAGraphWithAttributes``, as in e3nn's v2103). :func:`test_simple_network` and
:func:`test_network_for_a_graph_with_attributes` are e3nn's tests of this file (smaller sizes).

>>> SimpleNetwork("0e", "1o", max_radius=2.0, num_neighbors=3.0, num_nodes=4.0, mul=2, layers=1).irreps_out
1x1o
"""
import mindspore as ms

from ....math import soft_one_hot_linspace  # noqa: F401  (e3nn's module namespace)
from ....util.graph import radius_graph, scatter  # noqa: F401  (e3nn: torch_cluster's, torch_scatter's)
from .._networks import (AttributedNetworkBase, SimpleNetworkBase, check_attributed_network,
                         check_simple_network)
from .gate_points_message_passing import MessagePassing

__all__ = ["SimpleNetwork", "NetworkForAGraphWithAttributes", "MessagePassing", "radius_graph", "scatter",
           "soft_one_hot_linspace", "test_simple_network", "test_network_for_a_graph_with_attributes"]


def _message_passing(irreps_in, irreps_hidden, irreps_out, irreps_node_attr, irreps_edge_attr, layers, fc_neurons,
                     num_neighbors, dtype):
    return MessagePassing(irreps_in, irreps_hidden, irreps_out, irreps_node_attr, irreps_edge_attr, layers,
                          fc_neurons, num_neighbors, dtype=dtype)


class SimpleNetwork(SimpleNetworkBase):
    r"""Network on the radius graph of the points with input features ``x`` (v2103: ``cosine`` radial basis).

    Same arguments, inputs and outputs as :class:`..v2106.gate_points_networks.SimpleNetwork`.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> SimpleNetwork("0e", "1o", 2.0, 3.0, 4.0, mul=2, layers=1).mp.irreps_node_hidden
        2x0o+2x0e+2x1o+2x1e+2x2o+2x2e
    """

    _basis = "cosine"

    def _message_passing(self, *args):
        return _message_passing(*args)

    def _radius_graph(self, pos, batch):
        return radius_graph(pos, self.max_radius, batch, max_num_neighbors=pos.shape[0] - 1)


class NetworkForAGraphWithAttributes(AttributedNetworkBase):
    r"""Network on a given graph (``edge_index``) with node attributes and edge attributes (v2103: ``cosine``
    radial basis; ``node_input`` and ``edge_index`` required).

    Same arguments, inputs and outputs as :class:`..v2106.gate_points_networks.NetworkForAGraphWithAttributes`.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> NetworkForAGraphWithAttributes("0e", "0e", "1e", "0e", 2.0, 3.0, 4.0, mul=2, layers=1).irreps_node_output
        1x0e
    """

    _basis = "cosine"
    _graph_keys = "v2103"

    def _message_passing(self, *args):
        return _message_passing(*args)


def test_simple_network(dtype=ms.float64):
    """e3nn's ``test_simple_network``: the network runs on 5 random points."""
    check_simple_network(SimpleNetwork, dtype)


def test_network_for_a_graph_with_attributes(dtype=ms.float64):
    """e3nn's ``test_network_for_a_graph_with_attributes``: the network runs on a 3-node cycle."""
    check_attributed_network(NetworkForAGraphWithAttributes, dtype)
