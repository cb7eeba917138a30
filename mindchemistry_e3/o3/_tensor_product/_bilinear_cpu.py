r"""MindSpore AOT custom ops of a bilinear map ``f(a, b)`` whose generated library has the three entry points
``{name}_forward(a, b)``, ``{name}_vjp(a, b, g) -> (da, db)`` and ``{name}_vjp2(a, b, g, d_a, d_b) -> (ga, gb, gg)``
(written by :mod:`._bilinear_cpu_np`): the forward op, whose ``bprop`` is the vjp, whose ``bprop`` is
the vjp2. A bilinear map's second order is the map and its gradient at arguments swapped for their directions, so
these three kernels carry any first- and second-order gradient; third order is not supported.
"""
from mindspore import ops


def bilinear_ops(library, name, out_shape):
    """The ``{name}_forward`` Custom op of ``library`` (output shape ``out_shape(a_shape, b_shape)``, the first
    input's dtype), its gradient chain wired through the ``bprop``\\ s."""
    vjp2 = ops.Custom(f"{library}:{name}_vjp2", out_shape=lambda a, b, g, d_a, d_b: (a, b, g),
                      out_dtype=lambda a, *_: (a, a, a), func_type="aot")

    def vjp_bprop(a, b, g, out, dout):
        return vjp2(a, b, g, dout[0], dout[1])

    vjp = ops.Custom(f"{library}:{name}_vjp", out_shape=lambda a, b, g: (a, b), out_dtype=lambda a, *_: (a, a),
                     func_type="aot", bprop=vjp_bprop)

    def forward_bprop(a, b, out, dout):
        return vjp(a, b, dout)

    return ops.Custom(f"{library}:{name}_forward", out_shape=out_shape, out_dtype=lambda a, _: a, func_type="aot",
                      bprop=forward_bprop)


__all__ = ["bilinear_ops"]
