r"""e3nn's ``v2103.conv_points_in_out``: a graph convolution whose input and output nodes are different point
sets (edges go from an input point to an output point).

Same constructor arguments, parameter names and outputs as e3nn 0.6.0; :func:`test` is e3nn's ``test()`` of this
file.

>>> conv = Convolution("0e + 1e", "0e + 1e", "2x0e", "3x0e", "0e + 1e", 4, 1, 8, 3.0)
>>> [n for n, _ in conv.parameters_and_names()]
['lin1.weight', 'fc.layer0.weight', 'fc.layer1.weight', 'lin2.weight']
"""
import numpy as np
import mindspore as ms
from mindspore import nn

from .... import o3
from ....math import soft_one_hot_linspace
from ....o3 import FullyConnectedTensorProduct, TensorProduct
from ....util.dtype import check_float_dtype
from ....util.graph import scatter  # noqa: F401  (torch_scatter.scatter in e3nn's namespace)
from ....util.jit import compile_mode
from ....util.second_order import SecondOrderGuard
from ... import FullyConnectedNet  # noqa: F401  (e3nn's module namespace)
from .._common import conv_tensor_product, radial_network, uvu_instructions

__all__ = ["Convolution", "scatter", "FullyConnectedNet", "FullyConnectedTensorProduct", "TensorProduct",
           "compile_mode", "test"]


@compile_mode("script")
class Convolution(SecondOrderGuard, nn.Cell):
    r"""Equivariant convolution from input points to output points: ``lin2(sum_edges tp(lin1(x)_src, Y_edge,
    w(edge scalars)))`` with the attributes of the input points in ``lin1`` and of the output points in ``lin2``.

    Args:
        irreps_node_input (Irreps): features of the input points.
        irreps_node_output (Irreps): features of the output points.
        irreps_node_attr_input (Irreps): attributes of the input points.
        irreps_node_attr_output (Irreps): attributes of the output points.
        irreps_edge_attr (Irreps): edge attributes.
        num_edge_scalar_attr (int): number of scalar edge attributes fed to the radial network.
        radial_layers (int): hidden layers of the radial network.
        radial_neurons (int): neurons per hidden layer.
        num_neighbors (float): typical number of neighbours (the sum is divided by its square root).
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **node_input** (Tensor) - ``[N_in, irreps_node_input.dim]``.
        - **node_attr_input** (Tensor) - ``[N_in, irreps_node_attr_input.dim]``.
        - **node_attr_output** (Tensor) - ``[N_out, irreps_node_attr_output.dim]``.
        - **edge_src** (Tensor) - int ``[E]``, input points; **edge_dst** (Tensor) - int ``[E]``, output points.
        - **edge_attr** (Tensor) - ``[E, irreps_edge_attr.dim]``.
        - **edge_scalar_attr** (Tensor) - ``[E, num_edge_scalar_attr]``.

    Outputs:
        Tensor ``[N_out, irreps_node_output.dim]``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> Convolution("0e", "1o", "0e", "0e", "1o", 2, 1, 4, 2.0).tp.irreps_out
        1x1o
    """

    def __init__(self, irreps_node_input, irreps_node_output, irreps_node_attr_input, irreps_node_attr_output,
                 irreps_edge_attr, num_edge_scalar_attr, radial_layers, radial_neurons, num_neighbors, *,
                 dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.irreps_node_input = o3.Irreps(irreps_node_input)
        self.irreps_node_attr_input = o3.Irreps(irreps_node_attr_input)
        self.irreps_node_attr_output = o3.Irreps(irreps_node_attr_output)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.irreps_node_output = o3.Irreps(irreps_node_output)
        self.num_neighbors = num_neighbors

        self.lin1 = FullyConnectedTensorProduct(self.irreps_node_input, self.irreps_node_attr_input,
                                                self.irreps_node_input, dtype=dtype)
        irreps_mid, instructions = uvu_instructions(self.irreps_node_input, self.irreps_edge_attr,
                                                    self.irreps_node_output)
        tp = conv_tensor_product(self.irreps_node_input, self.irreps_edge_attr, irreps_mid, instructions,
                                 num_neighbors, dtype)
        self.fc = radial_network([num_edge_scalar_attr] + radial_layers * [radial_neurons] + [tp.weight_numel],
                                 dtype)
        self.tp = tp
        self.lin2 = FullyConnectedTensorProduct(irreps_mid, self.irreps_node_attr_output, self.irreps_node_output,
                                                dtype=dtype)

    def construct(self, node_input, node_attr_input, node_attr_output, edge_src, edge_dst, edge_attr,
                  edge_scalar_attr):
        weight = self.fc(edge_scalar_attr)
        node_input = self.lin1(node_input, node_attr_input)
        node_output = self.tp(node_input, edge_attr, weight, edge_src, edge_dst, node_attr_output.shape[0])
        return self.lin2(node_output, node_attr_output)


def test(dtype=ms.float64):
    """e3nn's ``test()`` of this file: the convolution runs from 5 input points to 2 output points."""
    conv = Convolution(irreps_node_input="0e + 1e", irreps_node_output="0e + 1e", irreps_node_attr_input="2x0e",
                       irreps_node_attr_output="3x0e", irreps_edge_attr="0e + 1e", num_edge_scalar_attr=4,
                       radial_layers=1, radial_neurons=50, num_neighbors=3.0, dtype=dtype)
    rng = np.random.default_rng(0)
    pos_in, pos_out = rng.standard_normal((5, 3)), rng.standard_normal((2, 3))
    node_input, node_attr_input, node_attr_output = (ms.Tensor(rng.standard_normal(s), dtype)
                                                     for s in ((5, 4), (5, 2), (2, 3)))
    # torch_cluster.radius(pos_out, pos_in, r=2.0): every input point within 2.0 of an output point
    edge_src, edge_dst = np.nonzero(np.linalg.norm(pos_in[:, None] - pos_out[None], axis=-1) < 2.0)
    edge_vec = ms.Tensor(pos_in[edge_src] - pos_out[edge_dst], dtype)
    edge_attr = o3.spherical_harmonics([0, 1], edge_vec, True)
    edge_scalar_attr = soft_one_hot_linspace(x=ms.Tensor(np.linalg.norm(pos_in[edge_src] - pos_out[edge_dst], axis=1),
                                                         dtype),
                                             start=0.0, end=2.0, number=4, basis="smooth_finite", cutoff=True)
    out = conv(node_input, node_attr_input, node_attr_output, ms.Tensor(edge_src, ms.int32),
               ms.Tensor(edge_dst, ms.int32), edge_attr, edge_scalar_attr)
    assert out.shape == (2, 4)
