r"""The core shared by e3nn's point convolutions (``gate_points_2101`` / ``2102``, ``v2103`` and ``v2106``
``points_convolution``): a self-connection ``sc``, a linear ``lin1``, the edge tensor product ``tp`` (``uvu``
paths, weights from the radial network ``fc``) summed over the neighbours, and a linear ``lin2`` -- created in
e3nn's order, so the parameters are named and ordered as e3nn's. Each version adds how ``sc`` and the convolution
are mixed.
"""
import numpy as np
from mindspore import nn

from ...o3 import FullyConnectedTensorProduct
from ...util.dtype import constant
from ...util.second_order import SecondOrderGuard
from ._common import conv_tensor_product, radial_network, uvu_instructions

__all__ = ["SelfConnectedConvolution"]


class SelfConnectedConvolution(SecondOrderGuard, nn.Cell):
    """Base Cell: :meth:`_build` creates ``sc, lin1, fc, tp, lin2``; :meth:`_convolve` runs them."""

    def _build(self, irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out, fc_neurons, num_neighbors, keep,
               dtype):
        """Create the sub-Cells and constants; returns the middle irreps of the tensor product."""
        self.sc = FullyConnectedTensorProduct(irreps_in, irreps_node_attr, irreps_out, dtype=dtype)
        self.lin1 = FullyConnectedTensorProduct(irreps_in, irreps_node_attr, irreps_in, dtype=dtype)
        irreps_mid, instructions = uvu_instructions(irreps_in, irreps_edge_attr, irreps_out, keep=keep)
        tp = conv_tensor_product(irreps_in, irreps_edge_attr, irreps_mid, instructions, num_neighbors, dtype)
        self.fc = radial_network(list(fc_neurons) + [tp.weight_numel], dtype)
        self.tp = tp
        self.lin2 = FullyConnectedTensorProduct(irreps_mid, irreps_node_attr, irreps_out, dtype=dtype)
        mask = self.sc.output_mask.asnumpy().astype(np.float64)
        self._sc_mask = mask  # 1 on the output irreps the self-connection reaches
        self._mask = constant(mask, dtype)
        self._one_minus_mask = constant(1 - mask, dtype)
        return irreps_mid

    def _convolve(self, node_input, node_attr, edge_src, edge_dst, edge_attr, edge_scalars):
        """``(sc(x), conv(lin1(x)) / sqrt(num_neighbors), lin2 of that)``."""
        weight = self.fc(edge_scalars)
        self_connection = self.sc(node_input, node_attr)
        node_features = self.lin1(node_input, node_attr)
        node_features = self.tp(node_features, edge_attr, weight, edge_src, edge_dst, node_input.shape[0])
        return self_connection, node_features, self.lin2(node_features, node_attr)
