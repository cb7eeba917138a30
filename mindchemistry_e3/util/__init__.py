"""mindchemistry_e3.util (mirrors e3nn.util): graph helpers, equivariance tests, dtype helpers, ``jit``."""
from .graph import gather_rows, radius_graph, scatter, segment_sum  # noqa: E402,F401
from .test import assert_equivariant, equivariance_error, random_irreps  # noqa: E402,F401
from .dtype import torch_get_default_tensor_type, torch_get_default_device, explicit_default_types  # noqa: F401
from . import jit  # noqa: E402,F401
from .e3nn_weights import load_e3nn_state_dict  # noqa: E402,F401
from ._native import native_kernels, use_native_kernels  # noqa: E402,F401


def prod(x):
    """The product of a sequence (1 for an empty one), as ``e3nn.util.prod``.

    >>> prod([2, 3, 4]), prod([])
    (24, 1)
    """
    out = 1
    for a in x:
        out *= a
    return out


__all__ = ["gather_rows", "radius_graph", "scatter", "segment_sum", "assert_equivariant", "equivariance_error",
           "random_irreps", "torch_get_default_tensor_type", "torch_get_default_device", "explicit_default_types",
           "prod", "jit", "load_e3nn_state_dict", "native_kernels", "use_native_kernels"]
