r"""e3nn's ``v2106.points_convolution``: the v2103 point convolution with the angle trick replaced by a learned
factor :math:`\alpha` (initialised to zero, favouring the self-connection; after arXiv:2002.10444).

Same constructor arguments, parameter names and outputs as e3nn 0.6.0.

>>> conv = Convolution("0e + 1o", "0e", "0e + 1o", "0e + 1o", [3, 8], 2.0)
>>> [n for n, _ in conv.parameters_and_names()]
['sc.weight', 'lin1.weight', 'fc.layer0.weight', 'fc.layer1.weight', 'lin2.weight', 'alpha.weight']
"""
from mindspore import ops

from .... import o3
from ....o3 import FullyConnectedTensorProduct, TensorProduct  # noqa: F401  (TensorProduct: e3nn's namespace)
from ....util.dtype import check_float_dtype
from ....util.jit import compile_mode
from ... import FullyConnectedNet  # noqa: F401  (e3nn's module namespace)
from .._common import scatter  # noqa: F401  (e3nn's module namespace)
from .._common import is_even_scalar
from .._points_convolution import SelfConnectedConvolution

__all__ = ["Convolution", "scatter", "FullyConnectedNet", "FullyConnectedTensorProduct", "TensorProduct",
           "compile_mode"]


@compile_mode("script")
class Convolution(SelfConnectedConvolution):
    r"""Equivariant point convolution: ``sc(x) + alpha * lin2(conv(lin1(x)))`` with a learned scalar ``alpha``
    (zero at initialisation) on the irreps the self-connection reaches.

    Args:
        irreps_node_input (Irreps): input node features.
        irreps_node_attr (Irreps): node attributes.
        irreps_edge_attr (Irreps): edge attributes.
        irreps_node_output (Irreps): output node features.
        fc_neurons (list[int]): input and hidden sizes of the radial network (its output size is the product's
            number of weights).
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

    Raises:
        ValueError: no path from the input and edge irreps to ``irreps_node_output``, or no scalar for ``alpha``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> Convolution("0e", "0e", "0e + 1o", "1o", [3], 2.0).tp.irreps_out
        1x0e+1x1o
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
        if irreps_mid.dim == 0:
            raise ValueError(f"irreps_node_input={self.irreps_node_input} times irreps_edge_attr="
                             f"{self.irreps_edge_attr} produces nothing in "
                             f"irreps_node_output={self.irreps_node_output}")
        self.alpha = FullyConnectedTensorProduct(irreps_mid, self.irreps_node_attr, "0e", dtype=dtype)
        if self.alpha.weight is not None:
            self.alpha.weight.set_data(ops.zeros_like(self.alpha.weight))
        if float(self.alpha.output_mask.asnumpy()[0]) != 1.0:
            raise ValueError(f"irreps_mid={irreps_mid} and irreps_node_attr={self.irreps_node_attr} are not able "
                             f"to generate scalars")

    def construct(self, node_input, node_attr, edge_src, edge_dst, edge_attr, edge_scalars):
        node_self_connection, node_features, node_conv_out = self._convolve(node_input, node_attr, edge_src,
                                                                            edge_dst, edge_attr, edge_scalars)
        alpha = self.alpha(node_features, node_attr)
        alpha = self._one_minus_mask + alpha * self._mask
        return node_self_connection + alpha * node_conv_out
