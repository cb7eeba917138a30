"""mindchemistry_e3.nn (mirrors e3nn.nn)."""
