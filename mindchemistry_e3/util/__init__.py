"""mindchemistry_e3.util (mirrors e3nn.util)."""
from .graph import gather_rows, radius_graph, scatter, segment_sum  # noqa: E402,F401
from .test import assert_equivariant, equivariance_error, random_irreps  # noqa: E402,F401
