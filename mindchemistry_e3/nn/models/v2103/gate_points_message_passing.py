r"""e3nn's ``v2103.gate_points_message_passing``: ``layers`` gated point convolutions (v2103's angle-mixing
convolution) from ``irreps_node_input`` through ``irreps_node_hidden`` to ``irreps_node_output``.

Same constructor arguments, parameter names and outputs as e3nn 0.6.0; :func:`test` is e3nn's ``test()`` of this
file (smaller sizes).

>>> mp = MessagePassing("0e", "0e + 1e", "1e", "0e + 1e", "0e + 1e", layers=2, fc_neurons=[2, 8], num_neighbors=3.0)
>>> [type(layer).__name__ for layer in mp.layers]
['Compose', 'Compose', 'Convolution']
"""
import numpy as np
import mindspore as ms

from .... import o3
from ....util.graph import radius_graph
from ... import Gate  # noqa: F401  (e3nn's module namespace)
from .._common import Compose, tp_path_exists  # noqa: F401
from .._networks import MessagePassingStack, check_message_passing
from .points_convolution import Convolution

__all__ = ["MessagePassing", "Convolution", "Compose", "Gate", "tp_path_exists", "test"]


class MessagePassing(MessagePassingStack):
    r"""``layers`` gated point convolutions, then a last convolution to ``irreps_node_output``.

    Args:
        irreps_node_input (Irreps): input node features.
        irreps_node_hidden (Irreps): hidden features (only irreps a tensor product path reaches are kept).
        irreps_node_output (Irreps): output features.
        irreps_node_attr (Irreps): node attributes.
        irreps_edge_attr (Irreps): edge attributes.
        layers (int): number of gates.
        fc_neurons (list[int]): input and hidden sizes of the radial networks.
        num_neighbors (float): typical number of neighbours.
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **node_features** (Tensor) - ``[N, irreps_node_input.dim]``.
        - **node_attr**, **edge_src**, **edge_dst**, **edge_attr**, **edge_scalars** (Tensor) - as for
          :class:`.points_convolution.Convolution`.

    Outputs:
        Tensor ``[N, irreps_node_output.dim]``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> mp = MessagePassing("0e", "0e + 1e", "1e", "0e", "0e + 1e", layers=1, fc_neurons=[2], num_neighbors=3.0)
        >>> len(mp.layers)
        2
    """

    def __init__(self, irreps_node_input, irreps_node_hidden, irreps_node_output, irreps_node_attr, irreps_edge_attr,
                 layers, fc_neurons, num_neighbors, *, dtype=None):
        irreps_node_input = o3.Irreps(irreps_node_input)
        irreps_node_hidden = o3.Irreps(irreps_node_hidden)
        irreps_node_output = o3.Irreps(irreps_node_output)
        super().__init__([irreps_node_input] + layers * [irreps_node_hidden] + [irreps_node_output], irreps_node_attr,
                         irreps_edge_attr, fc_neurons, num_neighbors, Convolution, strict_gates=False, dtype=dtype)
        self.irreps_node_input = irreps_node_input
        self.irreps_node_hidden = irreps_node_hidden
        self.irreps_node_output = irreps_node_output


def test(dtype=ms.float64):
    """e3nn's ``test()`` of this file: output shape, equivariance and graph compilation of a small stack."""
    mp = MessagePassing(irreps_node_input="0e", irreps_node_hidden="0e + 1e", irreps_node_output="1e",
                        irreps_node_attr="0e + 1e", irreps_edge_attr="1e", layers=3, fc_neurons=[2, 16],
                        num_neighbors=3.0, dtype=dtype)
    node_pos = ms.Tensor(np.random.default_rng(0).standard_normal((4, 3)), dtype)
    edge_index = radius_graph(node_pos, 3.0)
    edge_src, edge_dst = edge_index[0], edge_index[1]
    check_message_passing(mp, node_pos, edge_src, edge_dst, node_pos[edge_src] - node_pos[edge_dst])
