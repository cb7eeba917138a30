r"""The C++ source of the fused CPU kernels of a ``uvu`` tensor product with per-sample weights, and of its
convolution (no MindSpore).

What is computed: e3nn's ``TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions, shared_weights=False)``
when every path is a weighted ``uvu`` with a multiplicity-1 second input (NequIP's and e3nn's convolution
products, benchmark W2), row by row:

.. math:: y_{z, p, u, k} \mathrel{+}= w_{z, p, u} \sum_i x_{z, u, i}\, A^p_{z, i k}, \qquad
          A^p_{z, i k} = \alpha_p \sum_j C^p_{i j k}\, b_{z, j},

with :math:`C^p` the Wigner 3j symbol of the path and :math:`\alpha_p` its normalisation (``path_weight``), in e3nn's
layouts (inputs, outputs and the flat weights). Three entry points with MindSpore's AOT signature, float32 and
float64:

* ``tp_forward(x1 [Z, dim1], x2 [Z, dim2], w [Z, numel]) -> y [Z, dim_out]``;
* ``tp_vjp(x1, x2, w, g [Z, dim_out]) -> (dx1, dx2, dw)``, the gradient of :math:`\sum g \cdot y`:
  :math:`\partial w_{pu} = \sum_k g_{uk} t_{uk}` (:math:`t = x A`), :math:`\partial x_{ui} \mathrel{+}=
  w_u \sum_k g_{uk} A_{ik}`, :math:`\partial b_j \mathrel{+}= \alpha_p \sum_{ik} C_{ijk} M_{ik}` with
  :math:`M_{ik} = \sum_u x_{ui} w_u g_{uk}`;
* ``tp_vjp2(x1, x2, w, g, d1, d2, dw) -> (gx1, gx2, gw, gg)``, the gradient of
  :math:`\langle (d_1, d_2, d_w), \mathrm{vjp} \rangle` (second order): ``vjp`` and ``forward`` at arguments with
  one of them swapped for its direction, summed, in one pass (:func:`_second_path`).

The convolution (``uvu_source(..., conv=True, scale=c)``, :class:`~mindchemistry_e3.o3.TensorProductConv`) is the
same product on the rows ``x[src]``, summed at ``dst`` and times ``c``: ``conv_forward`` and ``conv_vjp`` take
``src`` and ``dst`` (int32 or int64) after ``w`` and do the gather and the scatter-sum in their loads and stores.

Layout of the loops: rows are taken ``LANES`` at a time and transposed into row-minor buffers
(``buffer[column * LANES + lane]``), so every statement of the generated straight-line code is one loop over the
lanes that the compiler vectorizes (no gathers, no reductions across lanes); the multiplicity ``u`` is a plain loop
around it. Only the nonzero entries of each :math:`C^p` appear in the code.

>>> from ._plan import normalize_instructions
>>> ins = normalize_instructions("4x0e + 4x1o", "0e + 1o", "4x1o", [(0, 1, 0, "uvu", True), (1, 0, 0, "uvu", True)])
>>> uvu_kernel_support("4x0e + 4x1o", "0e + 1o", "4x1o", ins) is None
True
>>> "tp_vjp" in uvu_source("4x0e + 4x1o", "0e + 1o", "4x1o", ins)
True
"""
import numpy as np

from .._irreps import Irreps
from ...util._native import LANE_BUFFERS, aot_entry
from ._conv_plan import _cg

LANES = 16  # rows per block: one AVX-512 vector of float32, two of float64

_PRELUDE = """\
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

constexpr int64_t V = %(lanes)d;
constexpr int64_t DIM1 = %(dim1)d, DIM2 = %(dim2)d, NUMEL = %(numel)d, DIMO = %(dimo)d;

%(lane_buffers)s
// rows idx[z0 .. z0 + n - 1] of src [*, dim] -> buf (a gather: the convolution's source nodes)
template <typename T, typename I>
void load_rows(const T *src, int64_t dim, const I *idx, int64_t z0, int64_t n, T *buf) {
  int64_t off[V];
  for (int64_t v = 0; v < V; ++v) off[v] = v < n ? int64_t(idx[z0 + v]) * dim : -1;
  if (n < V) std::memset(buf, 0, sizeof(T) * dim * V);
  if (n == V) {
    for (int64_t c = 0; c < dim; ++c)
      for (int64_t v = 0; v < V; ++v) buf[c * V + v] = src[off[v] + c];
    return;
  }
  for (int64_t v = 0; v < n; ++v)
    for (int64_t c = 0; c < dim; ++c) buf[c * V + v] = src[off[v] + c];
}

// dst[idx[z0 + v]] += buf lane v (a scatter-sum). Lanes with one index in a run (sorted indices: a node's edges)
// are summed in the buffer first, where they are contiguous, then added to their row once
template <typename T, typename I>
void add_rows(const T *buf, int64_t dim, const I *idx, int64_t z0, int64_t n, T *dst) {
  int64_t v = 0;
  while (v < n) {
    const I target = idx[z0 + v];
    int64_t end = v + 1;
    while (end < n && idx[z0 + end] == target) ++end;
    T *row = dst + int64_t(target) * dim;
    if (end == v + 1) {
      for (int64_t c = 0; c < dim; ++c) row[c] += buf[c * V + v];
    } else {
      for (int64_t c = 0; c < dim; ++c) {
        T sum = T(0);
        for (int64_t u = v; u < end; ++u) sum += buf[c * V + u];
        row[c] += sum;
      }
    }
    v = end;
  }
}

// whether every index lies in [0, rows); if not, says which (MindSpore's error only gives the return code)
template <typename I>
bool in_range(const I *idx, int64_t n, int64_t rows, const char *name) {
  for (int64_t e = 0; e < n; ++e)
    if (idx[e] < 0 || idx[e] >= rows) {
      std::fprintf(stderr,
                   "mindchemistry_e3 TensorProductConv: %%s[%%lld] = %%lld is not a node index in [0, %%lld)\\n",
                   name, static_cast<long long>(e), static_cast<long long>(idx[e]), static_cast<long long>(rows));
      return false;
    }
  return true;
}

"""

def uvu_kernel_support(irreps_in1, irreps_in2, irreps_out, instructions):
    """Why the fused kernels do not apply to these normalised instructions, or None when they do.

    >>> from ._plan import normalize_instructions
    >>> uvu_kernel_support("4x0e", "0e", "4x0e", normalize_instructions("4x0e", "0e", "4x0e", [(0, 0, 0, "uvw", True)]))
    "connection mode 'uvw' (the kernels: weighted 'uvu')"
    """
    irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    if not instructions:
        return "no paths"
    for ins in instructions:
        if ins.connection_mode != "uvu":
            return f"connection mode {ins.connection_mode!r} (the kernels: weighted 'uvu')"
        if not ins.has_weight:
            return "a path without weights"
        if irreps_in2[ins.i_in2].mul != 1:
            return f"second-input irreps must have multiplicity 1 (got {irreps_in2[ins.i_in2]})"
        if irreps_in1[ins.i_in1].mul == 0:
            return "a path of multiplicity 0"
    return None


def _lit(value):
    return f"T({float(value)!r})"


def _sum(terms):
    return " + ".join(terms) if terms else "T(0)"


def _paths(irreps_in1, irreps_in2, irreps_out, instructions, scale):
    """Per path: offsets, dimensions, weight offset and the nonzero entries of ``scale * path_weight * C``."""
    s1, s2, so = irreps_in1.slices(), irreps_in2.slices(), irreps_out.slices()
    paths, w_off = [], 0
    for ins in instructions:
        (mul, ir1), ir2, ir3 = irreps_in1[ins.i_in1], irreps_in2[ins.i_in2].ir, irreps_out[ins.i_out].ir
        c = np.asarray(_cg(irreps_in1, irreps_in2, irreps_out, ins), np.float64) * scale
        nz = [(i, j, k, c[i, j, k]) for i, j, k in zip(*np.nonzero(np.abs(c) > 1e-15))]
        paths.append({"mul": mul, "d1": ir1.dim, "d3": ir3.dim, "o1": s1[ins.i_in1].start,
                      "o2": s2[ins.i_in2].start, "oo": so[ins.i_out].start, "ow": w_off, "nz": nz})
        w_off += mul
    return paths, w_off


def _lane_loop(lines, indent="      "):
    inner = "\n".join(indent + "  " + line for line in lines)
    return f"{indent}#pragma GCC ivdep\n{indent}for (int64_t v = 0; v < V; ++v) {{\n{inner}\n{indent}}}"


def _operator(p):
    """Lines of the lane loop that build ``A_i_k = sum_j pw C_ijk b_j`` for the path's nonzero ``(i, k)``."""
    pairs = {}
    for i, j, k, c in p["nz"]:
        pairs.setdefault((i, k), []).append(f"{_lit(c)} * xb[{p['o2'] + j} * V + v]")
    return sorted(pairs), [f"A[{n} * V + v] = {_sum(terms)};" for n, terms in enumerate(pairs[ik] for ik in
                                                                                         sorted(pairs))]


def _forward_path(p):
    pairs, a_lines = _operator(p)
    index = {ik: n for n, ik in enumerate(pairs)}
    body = []
    for k in range(p["d3"]):
        terms = [f"au[{i} * V + v] * A[{index[(i, kk)]} * V + v]" for i, kk in pairs if kk == k]
        if terms:
            body.append(f"yu[{k} * V + v] += wu[v] * ({_sum(terms)});")
    return (f"    {{  // path: x1[{p['o1']}:] (mul {p['mul']}, d {p['d1']}) -> y[{p['oo']}:] (d {p['d3']})\n"
            f"{_lane_loop(a_lines, '      ')}\n"
            f"      for (int64_t u = 0; u < {p['mul']}; ++u) {{\n"
            f"        const T *au = xa + ({p['o1']} + u * {p['d1']}) * V;\n"
            f"        const T *wu = xw + ({p['ow']} + u) * V;\n"
            f"        T *yu = xy + ({p['oo']} + u * {p['d3']}) * V;\n"
            f"{_lane_loop(body, '        ')}\n"
            f"      }}\n    }}\n")


def _second_input_lines(p, index, target):
    """Lane-loop lines adding :math:`\\alpha_p \\sum_{ik} C_{ijk} M_{ik}` to the second input's gradient ``target``
    (``M`` accumulated over ``u`` per nonzero ``(i, k)``)."""
    terms = {}
    for i, j, k, c in p["nz"]:
        terms.setdefault(j, []).append(f"{_lit(c)} * M[{index[(i, k)]} * V + v]")
    return [f"{target}[{p['o2'] + j} * V + v] += {_sum(terms[j])};" for j in sorted(terms)]


def _vjp_path(p):
    pairs, a_lines = _operator(p)
    index = {ik: n for n, ik in enumerate(pairs)}
    ks = sorted({k for _, k in pairs})
    body = []
    for k in ks:
        body.append(f"const T t{k} = " + _sum([f"au[{i} * V + v] * A[{index[(i, kk)]} * V + v]"
                                               for i, kk in pairs if kk == k]) + ";")
    body.append("dwu[v] = " + _sum([f"gu[{k} * V + v] * t{k}" for k in ks]) + ";")
    for k in ks:
        body.append(f"const T wg{k} = wu[v] * gu[{k} * V + v];")
    for i in sorted({i for i, _ in pairs}):
        body.append(f"dau[{i} * V + v] += " + _sum([f"wg{k} * A[{index[(ii, k)]} * V + v]"
                                                    for ii, k in pairs if ii == i]) + ";")
    for n, (i, k) in enumerate(pairs):
        body.append(f"M[{n} * V + v] += au[{i} * V + v] * wg{k};")
    db_lines = _second_input_lines(p, index, "db")
    return (f"    {{  // path: x1[{p['o1']}:] (mul {p['mul']}, d {p['d1']}) -> y[{p['oo']}:] (d {p['d3']})\n"
            f"{_lane_loop(a_lines, '      ')}\n"
            f"      std::memset(M, 0, sizeof(T) * {len(pairs)} * V);\n"
            f"      for (int64_t u = 0; u < {p['mul']}; ++u) {{\n"
            f"        const T *au = xa + ({p['o1']} + u * {p['d1']}) * V;\n"
            f"        const T *wu = xw + ({p['ow']} + u) * V;\n"
            f"        const T *gu = xg + ({p['oo']} + u * {p['d3']}) * V;\n"
            f"        T *dau = da + ({p['o1']} + u * {p['d1']}) * V;\n"
            f"        T *dwu = dw + ({p['ow']} + u) * V;\n"
            f"{_lane_loop(body, '        ')}\n"
            f"      }}\n"
            f"{_lane_loop(db_lines, '      ')}\n    }}\n")


_CONV_ENTRY = """
extern "C" int conv_%(name)s(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                            void *stream, void *extra) {
  (void)ndims; (void)stream; (void)extra;
  if (nparam != %(nparam)d) return 1;
  if (std::strcmp(dtypes[0], "%(dtype)s") != 0) return 2;
  const int64_t nodes = shapes[0][0], edges = shapes[1][0];
  std::vector<int64_t> wide;  // int32 edge indices widened once: each kernel is instantiated for int64 only
  const int64_t *idx[2];
  for (int k = 0; k < 2; ++k) {
    if (std::strcmp(dtypes[3 + k], "int64") == 0) {
      idx[k] = static_cast<const int64_t *>(params[3 + k]);
    } else if (std::strcmp(dtypes[3 + k], "int32") == 0) {
      if (wide.empty()) wide.resize(2 * edges);
      const int32_t *narrow = static_cast<const int32_t *>(params[3 + k]);
      for (int64_t e = 0; e < edges; ++e) wide[k * edges + e] = narrow[e];
      idx[k] = wide.data() + k * edges;
    } else {
      return 3;  // edge indices: int32 or int64
    }
  }
  if (!in_range(idx[0], edges, nodes, "edge_src") || !in_range(idx[1], edges, nodes, "edge_dst")) return 4;
  using T = %(scalar)s;
  using I = int64_t;
  %(name)s<T, I>(%(args)s, idx[0], idx[1], nodes, edges);
  return 0;
}
"""


def _second_path(p):
    """One path of ``vjp2``: the derivative of ``<(d1, d2, dw), vjp(x1, x2, w, g)>`` with respect to ``(x1, x2, w,
    g)`` (see :func:`uvu_source`), from the operators ``A`` of ``x2`` and ``B`` of ``d2``."""
    pairs, a_lines = _operator(p)
    b_lines = [line.replace("A[", "B[", 1).replace("xb[", "xd2[") for line in a_lines]
    index = {ik: n for n, ik in enumerate(pairs)}
    ks = sorted({k for _, k in pairs})
    body = []
    for k in ks:
        terms_a = [(i, index[(i, kk)]) for i, kk in pairs if kk == k]
        body.append(f"const T s{k} = " + _sum([f"d1u[{i} * V + v] * A[{n} * V + v]" for i, n in terms_a]
                                              + [f"au[{i} * V + v] * B[{n} * V + v]" for i, n in terms_a]) + ";")
        body.append(f"const T t{k} = " + _sum([f"au[{i} * V + v] * A[{n} * V + v]" for i, n in terms_a]) + ";")
        body.append(f"ggu[{k} * V + v] += wu[v] * s{k} + dwu[v] * t{k};")
    body.append("gwu[v] = " + _sum([f"gu[{k} * V + v] * s{k}" for k in ks]) + ";")
    for k in ks:
        body.append(f"const T wg{k} = wu[v] * gu[{k} * V + v], vg{k} = dwu[v] * gu[{k} * V + v];")
    for i in sorted({i for i, _ in pairs}):
        body.append(f"gau[{i} * V + v] += " + _sum([f"wg{k} * B[{index[(ii, k)]} * V + v] + vg{k} * "
                                                    f"A[{index[(ii, k)]} * V + v]" for ii, k in pairs if ii == i])
                    + ";")
    for n, (i, k) in enumerate(pairs):
        body.append(f"M[{n} * V + v] += d1u[{i} * V + v] * wg{k} + au[{i} * V + v] * vg{k};")
    gb_lines = _second_input_lines(p, index, "gb")
    return (f"    {{  // path: x1[{p['o1']}:] (mul {p['mul']}, d {p['d1']}) -> y[{p['oo']}:] (d {p['d3']})\n"
            f"{_lane_loop(a_lines + b_lines, '      ')}\n"
            f"      std::memset(M, 0, sizeof(T) * {len(pairs)} * V);\n"
            f"      for (int64_t u = 0; u < {p['mul']}; ++u) {{\n"
            f"        const T *au = xa + ({p['o1']} + u * {p['d1']}) * V;\n"
            f"        const T *d1u = xd1 + ({p['o1']} + u * {p['d1']}) * V;\n"
            f"        const T *wu = xw + ({p['ow']} + u) * V, *dwu = xdw + ({p['ow']} + u) * V;\n"
            f"        const T *gu = xg + ({p['oo']} + u * {p['d3']}) * V;\n"
            f"        T *gau = ga + ({p['o1']} + u * {p['d1']}) * V, *gwu = gw + ({p['ow']} + u) * V;\n"
            f"        T *ggu = gg + ({p['oo']} + u * {p['d3']}) * V;\n"
            f"{_lane_loop(body, '        ')}\n"
            f"      }}\n"
            f"{_lane_loop(gb_lines, '      ')}\n    }}\n")


def uvu_source(irreps_in1, irreps_in2, irreps_out, instructions, conv=False, scale=1.0, dtype="float32"):
    """The C++ source of the product's kernels for these normalised instructions (see the module doc):
    ``tp_forward`` and ``tp_vjp``, or with ``conv`` the convolution's ``conv_forward(x [N, dim1], a [E, dim2],
    w [E, numel], src, dst) -> y [N, dim_out]`` (``scale`` times the sum at ``dst`` of the product of ``x[src]``,
    ``a`` and ``w``; ``src``, ``dst`` int32 or int64 ``[E]``, refused with code 4 when out of ``[0, N)``) and
    ``conv_vjp(x, a, w, src, dst, g [N, dim_out]) -> (dx, da, dw)``; and ``*_vjp2`` (second order, see the module
    doc).

    The kernels are instantiated for ``dtype`` (``"float32"`` or ``"float64"``) only: the generated code of a large
    product (NequIP's paper model) takes g++ tens of seconds per instantiation.

    Raises:
        ValueError: the kernels do not apply (:func:`uvu_kernel_support`), or another ``dtype``.
    """
    irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    why = uvu_kernel_support(irreps_in1, irreps_in2, irreps_out, instructions)
    if why is not None:
        raise ValueError(f"uvu_source: {why}")
    scalar = {"float32": "float", "float64": "double"}.get(dtype)
    if scalar is None:
        raise ValueError(f"uvu_source: dtype must be 'float32' or 'float64', got {dtype!r}")
    paths, numel = _paths(irreps_in1, irreps_in2, irreps_out, instructions, float(scale))
    max_pairs = max(len({(i, k) for i, _, k, _ in p["nz"]}) for p in paths)
    src = _PRELUDE % {"lane_buffers": LANE_BUFFERS, "lanes": LANES, "dim1": irreps_in1.dim, "dim2": irreps_in2.dim,
                      "numel": numel, "dimo": irreps_out.dim}
    if conv:  # x1 rows gathered at src, the output summed at dst; the gradient: g gathered at dst, dx summed at src
        fwd_args, vjp_args = ("const T *x1, const T *x2, const T *w, T *y, const I *src, const I *dst, "
                              "int64_t nodes, int64_t z"), (
            "const T *x1, const T *x2, const T *w, const T *g, T *dx1, T *dx2, T *dw_out, const I *src, "
            "const I *dst, int64_t nodes, int64_t z")
        load_x1, load_g = "load_rows(x1, DIM1, src, z0, n, xa);", "load_rows(g, DIMO, dst, z0, n, xg);"
        store_y, store_dx1 = "add_rows(xy, DIMO, dst, z0, n, y);", "add_rows(da, DIM1, src, z0, n, dx1);"
        zero_y = "  std::memset(y, 0, sizeof(T) * nodes * DIMO);\n"
        zero_dx1 = "  std::memset(dx1, 0, sizeof(T) * nodes * DIM1);\n"
        vjp2_args = ("const T *x1, const T *x2, const T *w, const T *g, const T *d1, const T *d2, const T *dw_in, "
                     "T *gx1, T *gx2, T *gw_out, T *gg_out, const I *src, const I *dst, int64_t nodes, int64_t z")
        load_d1 = "load_rows(d1, DIM1, src, z0, n, xd1);"
        store_ga, store_gg = "add_rows(ga, DIM1, src, z0, n, gx1);", "add_rows(gg, DIMO, dst, z0, n, gg_out);"
        zero_ga = ("  std::memset(gx1, 0, sizeof(T) * nodes * DIM1);\n"
                   "  std::memset(gg_out, 0, sizeof(T) * nodes * DIMO);\n")
    else:
        fwd_args = "const T *x1, const T *x2, const T *w, T *y, int64_t z"
        vjp_args = "const T *x1, const T *x2, const T *w, const T *g, T *dx1, T *dx2, T *dw_out, int64_t z"
        load_x1, load_g = "load(x1, DIM1, z0, n, xa);", "load(g, DIMO, z0, n, xg);"
        store_y, store_dx1 = "store(xy, DIMO, z0, n, y);", "store(da, DIM1, z0, n, dx1);"
        zero_y = zero_dx1 = zero_ga = ""
        vjp2_args = ("const T *x1, const T *x2, const T *w, const T *g, const T *d1, const T *d2, const T *dw_in, "
                     "T *gx1, T *gx2, T *gw_out, T *gg_out, int64_t z")
        load_d1 = "load(d1, DIM1, z0, n, xd1);"
        store_ga, store_gg = "store(ga, DIM1, z0, n, gx1);", "store(gg, DIMO, z0, n, gg_out);"
    template = "template <typename T, typename I>" if conv else "template <typename T>"
    src += f"""
{template}
void forward({fwd_args}) {{
  std::vector<T> buf((DIM1 + DIM2 + NUMEL + DIMO + {max_pairs}) * V);
  T *xa = buf.data(), *xb = xa + DIM1 * V, *xw = xb + DIM2 * V, *xy = xw + NUMEL * V, *A = xy + DIMO * V;
{zero_y}  for (int64_t z0 = 0; z0 < z; z0 += V) {{
    const int64_t n = z - z0 < V ? z - z0 : V;
    {load_x1}
    load(x2, DIM2, z0, n, xb);
    load(w, NUMEL, z0, n, xw);
    std::memset(xy, 0, sizeof(T) * DIMO * V);
{"".join(_forward_path(p) for p in paths)}    {store_y}
  }}
}}

{template}
void vjp({vjp_args}) {{
  std::vector<T> buf((2 * DIM1 + 2 * DIM2 + 2 * NUMEL + DIMO + 2 * {max_pairs}) * V);
  T *xa = buf.data(), *xb = xa + DIM1 * V, *xw = xb + DIM2 * V, *xg = xw + NUMEL * V;
  T *da = xg + DIMO * V, *db = da + DIM1 * V, *dw = db + DIM2 * V, *A = dw + NUMEL * V, *M = A + {max_pairs} * V;
{zero_dx1}  for (int64_t z0 = 0; z0 < z; z0 += V) {{
    const int64_t n = z - z0 < V ? z - z0 : V;
    {load_x1}
    load(x2, DIM2, z0, n, xb);
    load(w, NUMEL, z0, n, xw);
    {load_g}
    std::memset(da, 0, sizeof(T) * (DIM1 + DIM2) * V);
{"".join(_vjp_path(p) for p in paths)}    {store_dx1}
    store(db, DIM2, z0, n, dx2);
    store(dw, NUMEL, z0, n, dw_out);
  }}
}}

{template}
void vjp2({vjp2_args}) {{
  std::vector<T> buf((2 * DIM1 + 2 * DIM2 + 2 * NUMEL + DIMO + 2 * DIM1 + 2 * DIM2 + 2 * NUMEL + DIMO
                      + 3 * {max_pairs}) * V);
  T *xa = buf.data(), *xb = xa + DIM1 * V, *xw = xb + DIM2 * V, *xg = xw + NUMEL * V, *xd1 = xg + DIMO * V;
  T *xd2 = xd1 + DIM1 * V, *xdw = xd2 + DIM2 * V, *ga = xdw + NUMEL * V, *gb = ga + DIM1 * V, *gw = gb + DIM2 * V;
  T *gg = gw + NUMEL * V, *A = gg + DIMO * V, *B = A + {max_pairs} * V, *M = B + {max_pairs} * V;
{zero_ga}  for (int64_t z0 = 0; z0 < z; z0 += V) {{
    const int64_t n = z - z0 < V ? z - z0 : V;
    {load_x1}
    load(x2, DIM2, z0, n, xb);
    load(w, NUMEL, z0, n, xw);
    {load_g}
    {load_d1}
    load(d2, DIM2, z0, n, xd2);
    load(dw_in, NUMEL, z0, n, xdw);
    std::memset(ga, 0, sizeof(T) * (DIM1 + DIM2) * V);
    std::memset(gg, 0, sizeof(T) * DIMO * V);
{"".join(_second_path(p) for p in paths)}    {store_ga}
    store(gb, DIM2, z0, n, gx2);
    store(gw, NUMEL, z0, n, gw_out);
    {store_gg}
  }}
}}

}}  // namespace
"""
    for name, n_in, n_out in (("forward", 3, 1), ("vjp", 4, 3), ("vjp2", 7, 4)):
        if conv:  # params: x1, x2, w, src, dst, then the other inputs and the outputs; T and I are the template's
            order = [k for k in range(n_in + n_out + 2) if k not in (3, 4)]
            args = ", ".join(f"static_cast<{'const ' if k < n_in else ''}T *>(params[{order[k]}])"
                             for k in range(n_in + n_out))
            src += _CONV_ENTRY % {"name": name, "nparam": n_in + n_out + 2, "args": args, "dtype": dtype,
                                  "scalar": scalar}
            continue
        src += aot_entry(f"tp_{name}", name, n_in, n_out, (scalar,))
    return src


__all__ = ["uvu_kernel_support", "uvu_source", "LANES"]
