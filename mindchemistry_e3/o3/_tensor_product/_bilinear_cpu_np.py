r"""The C++ derivatives of a bilinear map's fused CPU kernels, written once (no MindSpore).

A kernel source of a bilinear map ``o = f(a, b)`` over ``z`` rows (:mod:`._outer_cpu_np`, :mod:`._contract_cpu_np`)
defines, inside its anonymous namespace, ``forward(a, b, o, z, add)`` (``o = f(a, b)``, or ``o += f(a, b)`` with
``add``) and ``grads(a, b, g, da, db, z)`` (``da`` and ``db``, each where not null, of :math:`\langle g, f(a, b)
\rangle`), then includes :data:`BILINEAR_DERIVATIVES` and appends :func:`bilinear_entries`. Because ``f`` is
bilinear, its second order needs nothing else: the gradient of :math:`\langle a_a, da\rangle + \langle a_b,
db\rangle` is ``da`` at ``b = a_b``, ``db`` at ``a = a_a`` and :math:`f(a_a, b) + f(a, a_b)`. The MindSpore side
wires the three entry points with :func:`._bilinear_cpu.bilinear_ops`.

>>> "void vjp2(" in BILINEAR_DERIVATIVES and "outer_vjp2" in bilinear_entries("outer")
True
"""
from ...util._native import aot_entry

#: C++: ``vjp`` and ``vjp2`` of a bilinear map from the including source's ``forward`` and ``grads``.
BILINEAR_DERIVATIVES = """\
template <typename T>
void vjp(const T *a, const T *b, const T *g, T *da, T *db, int64_t z) {
  grads(a, b, g, da, db, z);
}

// the gradient of <a_a, da> + <a_b, db>: da at a_b, db at a_a, and f(a_a, b) + f(a, a_b)
template <typename T>
void vjp2(const T *a, const T *b, const T *g, const T *aa, const T *ab, T *ga, T *gb, T *gg, int64_t z) {
  grads(a, ab, g, ga, static_cast<T *>(nullptr), z);
  grads(aa, b, g, static_cast<T *>(nullptr), gb, z);
  forward(aa, b, gg, z, false);
  forward(a, ab, gg, z, true);
}
"""


def bilinear_entries(name):
    """The C++ of the AOT entry points ``{name}_forward``, ``{name}_vjp`` and ``{name}_vjp2``."""
    return "".join(aot_entry(f"{name}_{function}", function, n_inputs, n_outputs)
                   for function, n_inputs, n_outputs in (("forward", 2, 1), ("vjp", 3, 2), ("vjp2", 5, 3)))


__all__ = ["BILINEAR_DERIVATIVES", "bilinear_entries"]
