r"""e3nn's ``gate_points_2102`` (February 2021): :mod:`.gate_points_2101` whose radial networks also see the
scalar (``0e``) node attributes of both ends of each edge.

Same constructor arguments, parameter names and outputs as e3nn 0.6.0's ``e3nn.nn.models.gate_points_2102``;
``net(data)`` as in :mod:`.gate_points_2101`.

>>> net = Network("0e", "4x0e + 2x1o", "0e", "2x0e", "0e + 1o", layers=1, max_radius=2.0, number_of_basis=3,
...               radial_layers=1, radial_neurons=8, num_neighbors=2.0, num_nodes=4.0)
>>> net.layers[0].first.fc.hs[0]      # 3 basis functions + 2 x 2 scalar attributes
7
"""
from mindspore import ops

from ...math import soft_one_hot_linspace  # noqa: F401  (e3nn's module namespace)
from ...o3 import FullyConnectedTensorProduct, TensorProduct  # noqa: F401
from ...util.graph import gather_rows
from ...util.jit import compile_mode
from .. import ExtractIr, FullyConnectedNet, Gate  # noqa: F401
from . import gate_points_2101
from ._common import Compose, radius_graph, scatter, smooth_cutoff, tp_path_exists  # noqa: F401

__all__ = ["Convolution", "Network", "Compose", "smooth_cutoff", "tp_path_exists", "scatter", "radius_graph",
           "ExtractIr", "FullyConnectedNet", "FullyConnectedTensorProduct", "Gate", "TensorProduct", "compile_mode",
           "soft_one_hot_linspace"]


@compile_mode("script")
class Convolution(gate_points_2101.Convolution):
    r"""The convolution of :mod:`.gate_points_2101` whose radial network takes ``number_of_edge_features``
    scalars per edge.

    Args:
        irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out (Irreps): as in
            :class:`.gate_points_2101.Convolution`.
        number_of_edge_features (int): number of scalar edge features fed to the radial network.
        radial_layers, radial_neurons (int), num_neighbors (float), dtype: as in
            :class:`.gate_points_2101.Convolution`.

    Inputs:
        - **node_input**, **node_attr**, **edge_src**, **edge_dst**, **edge_attr** - as in
          :class:`.gate_points_2101.Convolution`.
        - **edge_features** (Tensor) - ``[E, number_of_edge_features]``.

    Outputs:
        Tensor ``[N, irreps_out.dim]``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> Convolution("0e + 1o", "2x0e", "0e + 1o", "0e", 7, 1, 8, 2.0).fc.hs
        [7, 8, 2]
    """

    def __init__(self, irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out, number_of_edge_features,
                 radial_layers, radial_neurons, num_neighbors, *, dtype=None):
        super().__init__(irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out, number_of_edge_features,
                         radial_layers, radial_neurons, num_neighbors, dtype=dtype)


class Network(gate_points_2101.Network):
    r"""The network of :mod:`.gate_points_2101` whose radial networks see, besides the edge length embedding,
    the scalar (``0e``) node attributes of the source and the destination of each edge.

    Same arguments, inputs and outputs as :class:`.gate_points_2101.Network`.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> import numpy as np, mindspore as ms
        >>> net = Network("0e", "4x0e + 2x1o", "1o", "0e + 1o", "0e + 1o", layers=1, max_radius=2.5,
        ...               number_of_basis=3, radial_layers=1, radial_neurons=8, num_neighbors=2.0, num_nodes=4.0)
        >>> rng = np.random.default_rng(0)
        >>> data = {k: ms.Tensor(rng.standard_normal((4, n)), ms.float32) for k, n in (("pos", 3), ("x", 1),
        ...                                                                              ("z", 4))}
        >>> net(data).shape
        (1, 3)
    """

    _convolution = Convolution

    def _setup_edge_features(self, dtype):
        self.ext_z = ExtractIr(self.irreps_node_attr, "0e", dtype=dtype)
        self._number_of_edge_features = self.number_of_basis + 2 * self.irreps_node_attr.count("0e")

    def _edge_features(self, edge_length_embedded, z, edge_src, edge_dst):
        scalar_z = self.ext_z(z)
        return ops.concat([edge_length_embedded, gather_rows(scalar_z, edge_src), gather_rows(scalar_z, edge_dst)],
                          1)
