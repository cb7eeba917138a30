"""e3nn 0.6.0's ``nn.models.v2106`` (June 2021 networks)."""
