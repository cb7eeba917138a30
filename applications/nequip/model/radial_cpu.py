r"""NequIP's radial embedding as fused CPU kernels: :class:`FusedRadial` (in :class:`.radial.RadialEmbedding`).

The kernels of :mod:`.radial_cpu_np` as MindSpore AOT custom ops: ``radial_forward`` (the Bessel basis times the
cutoff envelope, every edge and frequency in one pass), whose ``bprop`` is ``radial_vjp`` (forces, the frequencies'
gradient), whose ``bprop`` is ``radial_vjp2`` (a loss on forces) -- where the plain ops launch about thirty
elementwise kernels over the three orders. Third order is not supported.
"""
import mindspore as ms
from mindspore import nn, ops

from mindchemistry_e3.util._native import build_library
from .radial_cpu_np import radial_source


def _radial_ops(library, num_basis):
    """The ``radial_forward`` Custom op of ``library``, its gradient chain wired through the ``bprop``\\ s."""
    vjp2 = ops.Custom(f"{library}:radial_vjp2", out_shape=lambda r, w, m, g, hr, hw, hm: (r, w, m, g),
                      out_dtype=lambda r, *_: (r, r, r, r), func_type="aot")

    def vjp_bprop(r, w, m, g, out, dout):
        return vjp2(r, w, m, g, dout[0], dout[1], dout[2])

    vjp = ops.Custom(f"{library}:radial_vjp", out_shape=lambda r, w, m, g: (r, w, m),
                     out_dtype=lambda r, *_: (r, r, r), func_type="aot", bprop=vjp_bprop)

    def forward_bprop(r, w, m, out, dout):
        return vjp(r, w, m, dout)

    return ops.Custom(f"{library}:radial_forward", out_shape=lambda r, w, m: (r[0], num_basis),
                      out_dtype=lambda r, *_: r, func_type="aot", bprop=forward_bprop)


class FusedRadial(nn.Cell):
    r"""The radial embedding ``[E, num_basis]`` of edge lengths ``r [E, 1]``, frequencies ``w [num_basis]`` and the
    edge mask ``[E, 1]``, as fused CPU kernels (see the module doc).

    Supported Platforms:
        ``CPU``
    """

    def __init__(self, num_basis, library):
        super().__init__()
        self.forward = _radial_ops(library, int(num_basis))

    def construct(self, r, w, edge_mask):
        return self.forward(r, w, edge_mask)


def fused_radial(r_max, p, num_basis):
    """A :class:`FusedRadial`, or None on a target other than CPU, for ``p < 2`` or without native kernels."""
    if ms.get_context("device_target") != "CPU" or int(p) < 2:
        return None
    library = build_library(radial_source(r_max, p, num_basis), "radial")
    return None if library is None else FusedRadial(num_basis, library)


__all__ = ["FusedRadial", "fused_radial"]
