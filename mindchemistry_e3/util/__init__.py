"""mindchemistry_e3.util (mirrors e3nn.util)."""
from .graph import radius_graph, scatter  # noqa: E402,F401
from .test import assert_equivariant, equivariance_error, random_irreps  # noqa: E402,F401
