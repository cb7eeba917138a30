r"""The C++ source of the fused CPU kernels of the spherical harmonics of degree :math:`\le 3` (no MindSpore).

The polynomial :math:`F(v)^T C` of :mod:`._spherical_harmonics_poly` (``v = x`` or ``u = x / |x|`` with e3nn's
clamp) is written out per row as straight-line code: the monomials one product each, every output a sum over the
nonzero entries of :math:`C` only (28 of the 320 for ``[0, 1, 2, 3]``). Two entry points, with MindSpore's AOT
signature (:class:`mindspore.ops.Custom`, ``func_type="aot"``), for float32 and float64:

* ``sh_forward(x [N, 3]) -> y [N, dim]``;
* ``sh_vjp(x [N, 3], g [N, dim]) -> dx [N, 3]``: :math:`g\, \partial y / \partial x`, through the monomials'
  derivatives :math:`\partial_i v^e = e_i\, v^{e - e_i}` and, with ``normalize``, the projection
  :math:`|x|^{-1} (\partial_u - u\, (u \cdot \partial_u))` (none where the clamp holds the norm), as
  :class:`._spherical_harmonics_poly.NormalizedPolynomialHarmonics`.

One pass over the rows replaces the ~30 kernels of the forward and ~45 of the gradient that MindSpore's CPU
build launches for the same polynomial (it has no elementwise fusion). The source depends only on the plan, so it
is generated once per request and compiled once per machine (:mod:`mindchemistry_e3.util._native`).

>>> from ._spherical_harmonics_np import sh_lowering
>>> low = sh_lowering((0, 1, 2, 3), "component", True)
>>> src = harmonics_source(low.low[0], low.low_degree, True)
>>> "sh_forward" in src and "sh_vjp" in src
True
"""
import numpy as np

from ..util._native import aot_entry
from ._spherical_harmonics_np import EPS2, monomials

_PRELUDE = """\
#include <cmath>
#include <cstdint>
#include <cstring>

namespace {

template <typename T>
inline T clamped_norm2(T r2) {
  // |x|^2 with e3nn's clamp max(|x|, 1e-12), and 1 at exactly x = 0 (as _spherical_harmonics_poly.inverse_norm);
  // selects, no branch: the row loop vectorizes
  const T eps2 = T(%(eps2)r);
  const T low = r2 > T(0) ? eps2 : T(1);
  return r2 > eps2 ? r2 : low;
}
"""

def _literal(value):
    """A C++ double literal that round-trips ``value``."""
    return f"T({float(value)!r})"


def _unit_lines(normalize):
    """Lines that read row ``i`` of ``x`` into ``v0, v1, v2`` (normalized with ``inv`` and ``big`` if asked)."""
    lines = ["const T x0 = x[3 * i], x1 = x[3 * i + 1], x2 = x[3 * i + 2];"]
    if normalize:
        lines += ["const T r2 = x0 * x0 + x1 * x1 + x2 * x2;",
                  f"const bool big = r2 > T({EPS2!r});",
                  "const T inv = T(1) / std::sqrt(clamped_norm2<T>(r2));",
                  "const T v0 = x0 * inv, v1 = x1 * inv, v2 = x2 * inv;"]
    else:
        lines += ["const T v0 = x0, v1 = x1, v2 = x2;"]
    return lines


def _monomial_lines(exps, products, needed):
    """Lines defining ``m<k>`` for the monomials ``needed`` (and their parents), ``m0 = 1``, ``m1..m3 = v``."""
    keep = set(needed)
    for k in range(len(products) + 3, 3, -1):  # parents come before children: one pass downwards closes the set
        if k in keep:
            keep.add(products[k - 4][0])
    keep = sorted(keep)
    lines = []
    for k in keep:
        if k == 0:
            lines.append("const T m0 = T(1);")
        elif k <= 3:
            lines.append(f"const T m{k} = v{k - 1};")
        else:
            parent, var = products[k - 4]
            lines.append(f"const T m{k} = m{parent} * v{var};")
    return lines


def _terms(pairs):
    """``a * b + ...`` of ``(coefficient literal or name, name)`` pairs (``T(0)`` when empty)."""
    if not pairs:
        return "T(0)"
    return " + ".join(f"{c} * {m}" if c is not None else m for c, m in pairs)


def harmonics_source(matrix, degree, normalize):
    r"""The C++ source of ``sh_forward`` and ``sh_vjp`` for :math:`F(v)^T C` (see the module doc).

    Args:
        matrix (numpy.ndarray): :math:`C`, ``(len(monomials(degree)[0]), dim)`` float64.
        degree (int): 2 or 3, the degree of the monomials :math:`F`.
        normalize (bool): whether ``v`` is ``x / |x|`` (e3nn's clamp) or ``x``.

    Returns:
        str: a self-contained C++17 translation unit.
    """
    exps, products = monomials(int(degree))
    matrix = np.asarray(matrix, np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != len(exps):
        raise ValueError(f"harmonics_source: the matrix must have {len(exps)} rows (the monomials of degree "
                         f"<= {degree}), got shape {matrix.shape}")
    dim = matrix.shape[1]
    nonzero = [[(m, matrix[m, j]) for m in range(len(exps)) if matrix[m, j] != 0.0] for j in range(dim)]
    used = sorted({m for col in nonzero for m, _ in col})

    fwd = _unit_lines(normalize) + _monomial_lines(exps, products, used)
    fwd.append(f"T *o = y + {dim} * i;")
    for j, col in enumerate(nonzero):
        fwd.append(f"o[{j}] = " + _terms([(_literal(c) if m else None, f"m{m}" if m else _literal(c))
                                          for m, c in col]) + ";")

    # h_m = sum_j C[m, j] g_j for every monomial of degree >= 1 with a nonzero row
    rows = [m for m in range(1, len(exps)) if any(matrix[m] != 0.0)]
    vjp = _unit_lines(normalize)
    vjp.append(f"const T *gi = g + {dim} * i;")
    for m in rows:
        vjp.append(f"const T h{m} = " + _terms([(_literal(matrix[m, j]), f"gi[{j}]")
                                                 for j in range(dim) if matrix[m, j] != 0.0]) + ";")
    # d/dv_c: sum over monomials e with e_c >= 1 of h_e * e_c * v^(e - e_c)
    lower_needed, grads = set(), []
    for c in range(3):
        pairs = []
        for m in rows:
            e = exps[m]
            if e[c] == 0:
                continue
            low = exps.index(tuple(e[k] - (k == c) for k in range(3)))
            lower_needed.add(low)
            coef = f"h{m}" if e[c] == 1 else f"T({e[c]}) * h{m}"
            pairs.append((coef, f"m{low}"))
        grads.append(pairs)
    vjp[len(_unit_lines(normalize)):len(_unit_lines(normalize))] = _monomial_lines(exps, products,
                                                                                   sorted(lower_needed))
    for c in range(3):
        vjp.append(f"const T d{c} = " + _terms(grads[c]) + ";")
    vjp.append("T *o = dx + 3 * i;")
    if normalize:
        vjp += ["const T radial = big ? (v0 * d0 + v1 * d1 + v2 * d2) * inv : T(0);",
                "o[0] = d0 * inv - radial * v0;",
                "o[1] = d1 * inv - radial * v1;",
                "o[2] = d2 * inv - radial * v2;"]
    else:
        vjp += ["o[0] = d0;", "o[1] = d1;", "o[2] = d2;"]

    def function(name, signature, body):
        inner = "\n".join("    " + line for line in body)
        return (f"\ntemplate <typename T>\nvoid {name}({signature}, int64_t n) {{\n"
                f"  for (int64_t i = 0; i < n; ++i) {{\n{inner}\n  }}\n}}\n")

    src = _PRELUDE % {"eps2": EPS2}
    src += function("forward", "const T *x, T *y", fwd)
    src += function("vjp", "const T *x, const T *g, T *dx", vjp)
    src += "\n}  // namespace\n"
    src += aot_entry("sh_forward", "forward", 1, 1) + aot_entry("sh_vjp", "vjp", 2, 1)
    return src


__all__ = ["harmonics_source"]
