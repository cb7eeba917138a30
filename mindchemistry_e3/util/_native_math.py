r"""Vectorizable elementary functions for the generated native kernels: C++ source text (no MindSpore).

``std::exp``, ``std::sin`` and ``std::cos`` keep a loop scalar (GCC has no vector versions without libmvec and
``-ffast-math``); these overloads for float and double are straight-line arithmetic, a range reduction and a
polynomial, with the float-to-int conversion that ``-fno-trapping-math`` lets vectorize
(:data:`~mindchemistry_e3.util._native.FLAGS`). A kernel source includes them inside its anonymous namespace.

>>> "inline double fast_exp(double x)" in EXP_SOURCE, "inline void fast_sincos(float t" in SINCOS_SOURCE
(True, True)
"""
import math

#: C++ of ``fast_exp(x)`` (float and double overloads): x = n ln2 + r, |r| <= ln2 / 2, a Taylor polynomial of r
#: (degree 7 in float32, 13 in float64: the rounding of ``std::exp``, about 7 times faster on 16 lanes), 2^n written
#: into the exponent bits; clamped to the finite range. Needs ``<cstdint>`` and ``<cstring>``.
EXP_SOURCE = r"""// exp(x): x = n ln2 + r, |r| <= ln2 / 2, e^r by Horner, 2^n written into the exponent bits (vectorizes)
inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693145751953125f - n * 1.42860682030941723212e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f; p = p * r + 1.0f / 120.0f; p = p * r + 1.0f / 24.0f; p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f; p = p * r + 1.0f; p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

inline double fast_exp(double x) {
  x = x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x);
  const double n = __builtin_floor(x * 1.4426950408889634 + 0.5);
  const double r = x - n * 0.693147180369123816490 - n * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0; p = p * r + 1.0 / 39916800.0; p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0; p = p * r + 1.0 / 40320.0; p = p * r + 1.0 / 5040.0; p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0; p = p * r + 1.0 / 24.0; p = p * r + 1.0 / 6.0; p = p * r + 0.5; p = p * r + 1.0;
  p = p * r + 1.0;
  const int64_t bits = (static_cast<int64_t>(n) + 1023) << 52;
  double two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}
"""


def _horner(coefficients, var, literal):
    """C++ Horner form of sum_k coefficients[k] var^k."""
    out = literal(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        out = f"({out} * {var} + {literal(c)})"
    return out


def _sincos(scalar, suffix, pio2, sin_degree, cos_degree):
    def literal(v):
        return f"{float(v)!r}{suffix}"

    sin_c = [((-1) ** (k // 2)) / math.factorial(k) for k in range(1, sin_degree + 1, 2)]
    cos_c = [((-1) ** (k // 2)) / math.factorial(k) for k in range(0, cos_degree + 1, 2)]
    floor = "__builtin_floorf" if scalar == "float" else "__builtin_floor"
    return f"""
inline void fast_sincos({scalar} t, {scalar} &s, {scalar} &c) {{
  const {scalar} n = {floor}(t * {literal(2 / math.pi)} + {literal(0.5)});
  const {scalar} u = ((t - n * {literal(pio2[0])}) - n * {literal(pio2[1])}) - n * {literal(pio2[2])};
  const {scalar} u2 = u * u;
  const {scalar} sp = u * {_horner(sin_c, "u2", literal)};
  const {scalar} cp = {_horner(cos_c, "u2", literal)};
  const int64_t q = static_cast<int64_t>(n) & 3;
  s = q == 0 ? sp : (q == 1 ? cp : (q == 2 ? -sp : -cp));
  c = q == 0 ? cp : (q == 1 ? -sp : (q == 2 ? -cp : sp));
}}
"""


#: C++ of ``fast_sincos(t, s, c)`` (float and double overloads): reduction by pi / 2 in three parts whose products
#: with small integers are exact (Cephes for float, fdlibm for double), Taylor polynomials on [-pi/4, pi/4] (degree
#: 9 / 10 in float32, 19 / 20 in float64): the rounding of ``std::sin`` / ``std::cos`` for arguments of a few
#: hundred. Needs ``<cstdint>``.
SINCOS_SOURCE = (_sincos("float", "f", (1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8), 9, 10)
           + _sincos("double", "", (1.57079632673412561417e+00, 6.07710050630396597660e-11,
                                    2.02226624879595063154e-21), 19, 20))


__all__ = ["EXP_SOURCE", "SINCOS_SOURCE"]
