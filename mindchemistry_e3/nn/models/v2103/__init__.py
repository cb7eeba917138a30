"""e3nn 0.6.0's ``nn.models.v2103`` (March 2021 networks)."""
