"""mindchemistry_e3: E(3)-equivariant neural networks with e3nn 0.6.0's API, on MindSpore.

>>> from mindchemistry_e3 import o3
>>> o3.Irreps("16x0e + 8x1o").dim
40
"""
__version__ = "0.1.0"

from . import o3, math, nn, io, util  # noqa: E402,F401
from .util.dtype import set_default_dtype, get_default_dtype  # noqa: E402,F401
from .util._optimization import set_optimization_defaults, get_optimization_defaults  # noqa: E402,F401

__all__ = ["o3", "math", "nn", "io", "util", "set_default_dtype", "get_default_dtype", "set_optimization_defaults",
           "get_optimization_defaults", "__version__"]
