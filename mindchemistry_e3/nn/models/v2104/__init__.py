"""e3nn 0.6.0's ``nn.models.v2104`` (April 2021 voxel convolution)."""
