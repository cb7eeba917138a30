"""mindchemistry_e3.util (mirrors e3nn.util)."""
from .graph import radius_graph, scatter  # noqa: E402,F401
