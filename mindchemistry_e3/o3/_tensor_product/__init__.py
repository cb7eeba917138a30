"""Tensor products (e3nn's ``o3._tensor_product``): the general :class:`TensorProduct`, its subclasses, and the fused
convolution :class:`TensorProductConv`."""
from ._instruction import Instruction  # noqa: F401
from ._tensor_product import TensorProduct  # noqa: F401
from ._sub import (  # noqa: F401
    FullyConnectedTensorProduct,
    FullTensorProduct,
    ElementwiseTensorProduct,
    TensorSquare,
)
from ._conv import TensorProductConv  # noqa: F401
from ._conv_plan import uvu_instructions  # noqa: F401
