"""mindchemistry_e3.util (mirrors e3nn.util)."""
