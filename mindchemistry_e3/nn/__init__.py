"""mindchemistry_e3.nn (mirrors e3nn.nn)."""
from ._extract import Extract, ExtractIr  # noqa: F401
from ._identity import Identity  # noqa: F401
