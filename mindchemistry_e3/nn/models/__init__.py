"""mindchemistry_e3.nn.models (mirrors e3nn.nn.models): e3nn 0.6.0's example networks, under e3nn's module paths.

* :mod:`.gate_points_2101`, :mod:`.gate_points_2102` -- point-cloud networks of gated convolutions;
* :mod:`.v2103` -- ``points_convolution``, ``gate_points_message_passing``, ``gate_points_networks``,
  ``conv_points_in_out``, ``voxel_convolution``;
* :mod:`.v2104` -- ``voxel_convolution``;
* :mod:`.v2106` -- ``points_convolution``, ``gate_points_message_passing``, ``gate_points_networks``.

Import them as in e3nn, e.g. ``from mindchemistry_e3.nn.models.gate_points_2101 import Network``.
(e3nn's ``v2203`` sparse voxel convolution needs MinkowskiEngine and is not ported.)
"""
