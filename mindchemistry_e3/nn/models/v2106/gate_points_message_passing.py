r"""e3nn's ``v2106.gate_points_message_passing``: a stack of gated point convolutions through a sequence of node
irreps.

Same constructor arguments, parameter names and outputs as e3nn 0.6.0; :func:`test` is e3nn's ``test()`` of this
file (smaller sizes).

>>> mp = MessagePassing(["0e", "0e + 1e", "1e"], "0e", "0e + 1e", [2, 8], 3.0)
>>> mp.irreps_node_sequence
[1x0e, 1x0e+1x1e, 1x1e]
"""
import numpy as np
import mindspore as ms

from .... import o3
from ... import Gate  # noqa: F401  (e3nn's module namespace)
from .._common import Compose, radius_graph as _radius_graph, tp_path_exists  # noqa: F401
from .._networks import MessagePassingStack, check_message_passing
from .points_convolution import Convolution

__all__ = ["MessagePassing", "Convolution", "Compose", "Gate", "tp_path_exists", "radius_graph", "test"]


def radius_graph(pos, r_max):
    """e3nn's naive radius graph of this file: ``[2, E]`` int64 pairs ``(i, j)`` with ``0 < |pos_i - pos_j| <
    r_max``."""
    return _radius_graph(pos, r_max)


class MessagePassing(MessagePassingStack):
    r"""Gated point convolutions through ``irreps_node_sequence`` (input, hidden ..., output).

    Hidden gates: silu / tanh scalars and ``l > 0`` irreps gated by ``0e`` sigmoid gates (``0o`` tanh gates when
    only those are reachable) -- only irreps a tensor product path reaches are kept.

    Args:
        irreps_node_sequence (list[Irreps]): input, hidden and output node irreps.
        irreps_node_attr (Irreps): node attributes.
        irreps_edge_attr (Irreps): edge attributes.
        fc_neurons (list[int]): input and hidden sizes of the radial networks.
        num_neighbors (float): typical number of neighbours.
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **node_features** (Tensor) - ``[N, irreps_node_input.dim]``.
        - **node_attr** (Tensor) - ``[N, irreps_node_attr.dim]``.
        - **edge_src**, **edge_dst** (Tensor) - int ``[E]``.
        - **edge_attr** (Tensor) - ``[E, irreps_edge_attr.dim]``.
        - **edge_scalars** (Tensor) - ``[E, fc_neurons[0]]``.

    Outputs:
        Tensor ``[N, irreps_node_output.dim]``.

    Raises:
        ValueError: a hidden layer whose gated irreps no gate scalar can reach.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> MessagePassing(["0e", "0e + 1e", "1e"], "0e", "0e + 1e", [2, 8], 3.0).irreps_node_output
        1x1e
    """

    def __init__(self, irreps_node_sequence, irreps_node_attr, irreps_edge_attr, fc_neurons, num_neighbors, *,
                 dtype=None):
        super().__init__(irreps_node_sequence, irreps_node_attr, irreps_edge_attr, fc_neurons, num_neighbors,
                         Convolution, strict_gates=True, dtype=dtype)
        self.irreps_node_input = self.irreps_node_sequence[0]
        self.irreps_node_output = self.irreps_node_sequence[-1]


def test(dtype=ms.float64):
    """e3nn's ``test()`` of this file: output shape, equivariance and graph compilation of a small stack."""
    mp = MessagePassing(irreps_node_sequence=["0e", "0e + 1e", "0e + 1e", "0e + 1e", "1e"], irreps_node_attr="0e + 1e",
                        irreps_edge_attr="0e + 1e", fc_neurons=[2, 16], num_neighbors=3.0, dtype=dtype)
    node_pos = ms.Tensor(np.random.default_rng(0).standard_normal((4, 3)), dtype)
    edge_src, edge_dst = radius_graph(node_pos, 3.0)
    edge_attr = o3.spherical_harmonics([0, 1], node_pos[edge_src] - node_pos[edge_dst], normalize=True,
                                       normalization="component")
    check_message_passing(mp, node_pos, edge_src, edge_dst, edge_attr)
