"""mindchemistry_e3.io (mirrors e3nn.io)."""
from ._cartesian_tensor import CartesianTensor  # noqa: F401
from ._spherical_tensor import SphericalTensor  # noqa: F401
