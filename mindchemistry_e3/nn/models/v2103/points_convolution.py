r"""e3nn's ``v2103.points_convolution``: a point convolution mixing its self-connection and its convolution by an
angle, :math:`\cos\theta\, \mathrm{sc}(x) + \sin\theta\, \mathrm{conv}(x)` with :math:`\theta = 0.1\, f(x)`
(small at first, favouring the self-connection).

Same constructor arguments, parameter names and outputs as e3nn 0.6.0.

>>> conv = Convolution("0e + 1o", "0e", "0e + 1o", "1o", [3, 8], 2.0)
>>> [n for n, _ in conv.parameters_and_names()]
['sc.weight', 'lin1.weight', 'fc.layer0.weight', 'fc.layer1.weight', 'lin2.weight', 'lin3.weight']
"""
from mindspore import ops

from .... import o3
from ....o3 import FullyConnectedTensorProduct, TensorProduct  # noqa: F401  (TensorProduct: e3nn's namespace)
from ....util.dtype import check_float_dtype, constant
from ....util.graph import scatter  # noqa: F401  (torch_scatter.scatter in e3nn's namespace)
from ....util.jit import compile_mode
from ... import FullyConnectedNet  # noqa: F401  (e3nn's module namespace)
from .._common import is_even_scalar
from .._points_convolution import SelfConnectedConvolution

__all__ = ["Convolution", "scatter", "FullyConnectedNet", "FullyConnectedTensorProduct", "TensorProduct",
           "compile_mode"]


@compile_mode("script")
class Convolution(SelfConnectedConvolution):
    r"""Equivariant point convolution with the angle mixing of the self-connection (see the module doc).

    Args:
        irreps_node_input (Irreps): input node features.
        irreps_node_attr (Irreps): node attributes.
        irreps_edge_attr (Irreps): edge attributes.
        irreps_node_output (Irreps): output node features.
        fc_neurons (list[int]): input and hidden sizes of the radial network.
        num_neighbors (float): typical number of neighbours (the sum is divided by its square root).
        dtype (mindspore.dtype): keyword-only. Default: the default dtype.

    Inputs:
        - **node_input** (Tensor) - ``[N, irreps_node_input.dim]``.
        - **node_attr** (Tensor) - ``[N, irreps_node_attr.dim]``.
        - **edge_src**, **edge_dst** (Tensor) - int ``[E]``.
        - **edge_attr** (Tensor) - ``[E, irreps_edge_attr.dim]``.
        - **edge_scalars** (Tensor) - ``[E, fc_neurons[0]]``.

    Outputs:
        Tensor ``[N, irreps_node_output.dim]``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> Convolution("0e", "0e", "1o", "1o", [3], 2.0).tp.irreps_out
        1x1o
    """

    def __init__(self, irreps_node_input, irreps_node_attr, irreps_edge_attr, irreps_node_output, fc_neurons,
                 num_neighbors, *, dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.irreps_node_input = o3.Irreps(irreps_node_input)
        self.irreps_node_attr = o3.Irreps(irreps_node_attr)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.irreps_node_output = o3.Irreps(irreps_node_output)
        self.num_neighbors = num_neighbors

        irreps_mid = self._build(self.irreps_node_input, self.irreps_node_attr, self.irreps_edge_attr,
                                 self.irreps_node_output, fc_neurons, num_neighbors, is_even_scalar, dtype)
        self.lin3 = FullyConnectedTensorProduct(irreps_mid, self.irreps_node_attr, "0e", dtype=dtype)
        self._angle_scale = constant([0.1], dtype)

    def construct(self, node_input, node_attr, edge_src, edge_dst, edge_attr, edge_scalars):
        node_self_connection, node_features, node_conv_out = self._convolve(node_input, node_attr, edge_src,
                                                                            edge_dst, edge_attr, edge_scalars)
        node_angle = self._angle_scale * self.lin3(node_features, node_attr)
        cos, sin = ops.cos(node_angle), ops.sin(node_angle)
        sin = self._one_minus_mask + sin * self._mask
        return cos * node_self_connection + sin * node_conv_out
