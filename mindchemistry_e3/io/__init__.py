"""mindchemistry_e3.io (mirrors e3nn.io)."""
from ._cartesian_tensor import CartesianTensor  # noqa: F401
