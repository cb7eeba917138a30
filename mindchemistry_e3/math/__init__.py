"""mindchemistry_e3.math (mirrors e3nn.math)."""
