r"""Species embedding: type index -> one-hot node attributes :math:`z_i` and initial scalar features.

NequIP represents species by a one-hot vector (``num_types x 0e``), used twice: as the node attributes of every
self-connection, and, through a learned :class:`mindchemistry_e3.o3.Linear`, as the initial node features
(``num_features x 0e``). The one-hot is a row gather from an identity matrix (graph-mode clean, no dynamic shape).
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from mindchemistry_e3 import o3
from mindchemistry_e3.util.dtype import constant, check_float_dtype

__all__ = ["SpeciesEmbedding"]


class SpeciesEmbedding(nn.Cell):
    r"""One-hot species attributes and their linear embedding.

    Args:
        num_types (int): number of species.
        num_features (int): number of scalar features out.
        dtype (mindspore.dtype): float dtype. Default ``mindspore.float32``.
        compute_dtype (mindspore.dtype, optional): operand dtype of the linear's product. Default None.

    Inputs:
        - **node_type** (Tensor) - int32 ``[N]`` type indices in ``[0, num_types)``.

    Outputs:
        Tuple of ``node_attr`` ``[N, num_types]`` (one-hot) and ``x`` ``[N, num_features]``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> emb = SpeciesEmbedding(3, 8)
        >>> attr, x = emb(ms.Tensor([0, 2], ms.int32))
        >>> attr.asnumpy().tolist(), x.shape
        ([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], (2, 8))
    """

    def __init__(self, num_types, num_features, *, dtype=ms.float32, compute_dtype=None):
        super().__init__()
        if isinstance(num_types, bool) or not isinstance(num_types, (int, np.integer)) or num_types < 1:
            raise ValueError(f"SpeciesEmbedding: num_types must be a positive integer, got {num_types!r}")
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"SpeciesEmbedding: num_features must be a positive integer, got {num_features!r}")
        self.dtype = check_float_dtype(dtype)
        self.num_types = int(num_types)
        self.irreps_node_attr = o3.Irreps(f"{self.num_types}x0e")
        self.irreps_out = o3.Irreps(f"{int(num_features)}x0e")
        self.eye = constant(np.eye(self.num_types), dtype)
        self.linear = o3.Linear(self.irreps_node_attr, self.irreps_out, dtype=dtype, compute_dtype=compute_dtype)

    def construct(self, node_type):
        node_attr = ops.gather(self.eye, node_type, 0)
        return node_attr, self.linear(node_attr)
