"""mindchemistry_e3.io (mirrors e3nn.io)."""
