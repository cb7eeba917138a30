r"""Native CPU kernels: C++ sources generated from a plan, compiled once per machine and cached (no MindSpore).

MindSpore's CPU build launches one kernel per elementwise op (10-15 us each, no fusion), so a polynomial of a few
dozen products costs more in launches and memory passes than in arithmetic. A few hot spots therefore run as one
generated loop, a MindSpore AOT custom op (:class:`mindspore.ops.Custom`, ``func_type="aot"``), with the plain-op
Cells as the fallback: the result is the same up to rounding, only the speed differs.

:func:`build_library` compiles a source with ``g++ -O3 -march=native -fno-math-errno -fno-trapping-math``
(``$CXX`` if set) into ``$MINDCHEMISTRY_E3_KERNEL_DIR`` (default ``~/.cache/mindchemistry_e3/kernels``, else a
folder in the temporary directory), named by a hash of the source, the flags and the compiler, so each kernel
compiles once per machine (about 0.3 s). It returns None -- and the caller keeps its plain-op Cells -- when native
kernels are switched off (:func:`use_native_kernels`, or ``MINDCHEMISTRY_E3_NATIVE=0``), when no compiler is found
or when the compile fails (with one warning naming the reason).

>>> isinstance(use_native_kernels(), bool)  # the current setting
True
"""
import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings

# no errno: loops with sqrt vectorize; no trapping math: float -> int conversions vectorize
# (the exp of mindchemistry_e3.math._activation_cpu_np)
FLAGS = ("-std=c++17", "-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC")
#: C++ defining ``V``, the rows a kernel holds in one vector register: a float32 vector of the machine the kernel is
#: compiled for (``-march=native``): 16 with AVX-512, 8 with AVX / AVX2, 4 otherwise (SSE, NEON). A GCC vector type
#: wider than the hardware's registers is split by the compiler through the stack: with 16 lanes on an AVX2 core the
#: stacked linear kernels spilled every register block and took half of the NequIP train step.
NATIVE_LANES = """\
#if defined(__AVX512F__)
constexpr int64_t V = 16;
#elif defined(__AVX__)
constexpr int64_t V = 8;
#else
constexpr int64_t V = 4;
#endif
"""
#: C++ of the two helpers of kernels that take rows ``V`` at a time into row-minor buffers
#: (``buf[column * V + lane]``, every statement then one loop over the lanes): ``load`` and ``store``. The
#: including source defines ``constexpr int64_t V`` before it and includes ``<cstring>``.
LANE_BUFFERS = """\
// rows z0 .. z0 + n - 1 of src [Z, dim] -> buf [dim * V] (row-minor), lanes n .. V - 1 zero. A full block
// runs lanes innermost (strided loads the compiler vectorizes: 2.5x faster than row by row)
template <typename T>
void load(const T *src, int64_t dim, int64_t z0, int64_t n, T *buf) {
  const T *base = src + z0 * dim;
  if (n == V) {
    for (int64_t c = 0; c < dim; ++c)
      for (int64_t v = 0; v < V; ++v) buf[c * V + v] = base[v * dim + c];
    return;
  }
  std::memset(buf, 0, sizeof(T) * dim * V);
  for (int64_t v = 0; v < n; ++v)
    for (int64_t c = 0; c < dim; ++c) buf[c * V + v] = base[v * dim + c];
}

// buf [dim * V] -> rows z0 .. z0 + n - 1 of dst [Z, dim]
template <typename T>
void store(const T *buf, int64_t dim, int64_t z0, int64_t n, T *dst) {
  T *base = dst + z0 * dim;
  if (n == V) {
    for (int64_t c = 0; c < dim; ++c)
      for (int64_t v = 0; v < V; ++v) base[v * dim + c] = buf[c * V + v];
    return;
  }
  for (int64_t v = 0; v < n; ++v)
    for (int64_t c = 0; c < dim; ++c) base[v * dim + c] = buf[c * V + v];
}
"""
_STATE = {"enabled": os.environ.get("MINDCHEMISTRY_E3_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off"),
          "warned": False}
_BUILT = {}


def use_native_kernels(enabled=None):
    """Whether Cells built from now on may use native CPU kernels; with ``enabled``, set it (and return it).

    The default is on unless the environment sets ``MINDCHEMISTRY_E3_NATIVE=0``. Turn it off to build a model whose
    graph must not depend on a local shared library, e.g. for a MindIR export meant for another machine (see
    :func:`native_kernels`).
    """
    if enabled is not None:
        _STATE["enabled"] = bool(enabled)
    return _STATE["enabled"]


@contextlib.contextmanager
def native_kernels(enabled):
    """A ``with`` block in which Cells are built with (``True``) or without (``False``) native CPU kernels.

    >>> with native_kernels(False):
    ...     use_native_kernels()
    False
    """
    previous = _STATE["enabled"]
    _STATE["enabled"] = bool(enabled)
    try:
        yield
    finally:
        _STATE["enabled"] = previous


def kernel_dir():
    """The folder of the compiled kernels (created if needed): ``$MINDCHEMISTRY_E3_KERNEL_DIR``, else
    ``~/.cache/mindchemistry_e3/kernels``, else ``<tmp>/mindchemistry_e3-kernels-<uid>``."""
    candidates = [os.environ.get("MINDCHEMISTRY_E3_KERNEL_DIR"),
                  os.path.join(os.path.expanduser("~"), ".cache", "mindchemistry_e3", "kernels"),
                  os.path.join(tempfile.gettempdir(), f"mindchemistry_e3-kernels-{os.getuid()}")]
    for path in candidates:
        if not path:
            continue
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return path
    return None


def _warn(reason):
    if not _STATE["warned"]:
        _STATE["warned"] = True
        warnings.warn(f"mindchemistry_e3: native CPU kernels unavailable ({reason}); using the plain MindSpore "
                      f"ops (same results, slower). Set MINDCHEMISTRY_E3_NATIVE=0 to silence this.", RuntimeWarning,
                      stacklevel=3)


def _compiler():
    cxx = os.environ.get("CXX") or "g++"
    return shutil.which(cxx)


def build_library(source, name):
    """The path of the shared library compiled from the C++ ``source`` (cached), or None (see the module doc).

    Args:
        source (str): a C++17 translation unit.
        name (str): a readable prefix of the library's file name.

    Returns:
        Union[str, None]: an absolute path to a ``.so``, or None when native kernels are off or cannot be built.
    """
    if not use_native_kernels():
        return None
    cxx = _compiler()
    if cxx is None:
        _warn("no C++ compiler: set CXX or install g++")
        return None
    key = hashlib.sha256("\0".join((source, " ".join(FLAGS), os.path.realpath(cxx))).encode()).hexdigest()[:20]
    if key in _BUILT:
        return _BUILT[key]
    folder = kernel_dir()
    if folder is None:
        _warn("no writable folder for the compiled kernels: set MINDCHEMISTRY_E3_KERNEL_DIR")
        return None
    path = os.path.join(folder, f"{name}-{key}.so")
    if not os.path.exists(path):
        fd, src_path = tempfile.mkstemp(suffix=".cc", prefix=f".{name}-", dir=folder)
        tmp_lib = src_path[:-3] + ".so"
        try:
            with os.fdopen(fd, "w") as f:
                f.write(source)
            done = subprocess.run([cxx, *FLAGS, "-o", tmp_lib, src_path], capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                _warn(f"{os.path.basename(cxx)} failed: {done.stderr.strip()[-400:]}")
                return None
            os.replace(tmp_lib, path)  # atomic: a concurrent process sees the old state or the whole library
        except OSError as err:
            _warn(f"compiling failed: {err}")
            return None
        finally:
            for leftover in (src_path, tmp_lib):
                if os.path.exists(leftover):
                    os.remove(leftover)
    _BUILT[key] = path
    return path


def aot_entry(symbol, function, n_inputs, n_outputs, scalars=("float", "double"), extent="rows"):
    """The C++ of an AOT entry point ``symbol`` (MindSpore's signature) that checks the argument count and calls
    ``function<float>`` or ``function<double>`` (those of ``scalars``: each one instantiated costs compile time), by
    the first input's dtype, with the inputs, the outputs and the rows of the first input (``extent="rows"``) or
    its number of elements (``extent="size"``). Return codes: 1 a wrong argument count, 2 another dtype (MindSpore
    raises on both).

    >>> "int sh_forward(int nparam" in aot_entry("sh_forward", "forward", 1, 1)
    True
    """
    count = n_inputs + n_outputs

    def call(scalar):
        args = ", ".join(f"static_cast<{'const ' if k < n_inputs else ''}{scalar} *>(params[{k}])"
                         for k in range(count))
        return f"{function}<{scalar}>({args}, {count_expr});"

    if extent not in ("rows", "size"):
        raise ValueError(f"aot_entry: extent is 'rows' or 'size', got {extent!r}")
    count_expr = "shapes[0][0]" if extent == "rows" else "n_elements"
    size_lines = ("  int64_t n_elements = 1;\n  for (int k = 0; k < ndims[0]; ++k) n_elements *= shapes[0][k];\n"
                  if extent == "size" else "")

    return (f'\nextern "C" int {symbol}(int nparam, void **params, int *ndims, int64_t **shapes, '
            f"const char **dtypes, void *stream, void *extra) {{\n"
            f"  (void)ndims; (void)stream; (void)extra;\n"
            f"  if (nparam != {count}) return 1;\n"
            + size_lines
            + "".join(f'  if (std::strcmp(dtypes[0], "{_DTYPE_NAMES[t]}") == 0) {{ {call(t)} return 0; }}\n'
                      for t in scalars)
            + "  return 2;\n}\n")


_DTYPE_NAMES = {"float": "float32", "double": "float64"}


def native_libraries(cell):
    """The sorted paths of the native kernel libraries that the AOT Custom ops of a Cell tree call.

    A compiled graph names these files, so a cache of compiled graphs must key on them: a graph compiled with the
    kernels is not the graph of the same Cells built without them (``native_kernels(False)``), nor of another
    version of a kernel (the file names hold a hash of the source).
    """
    found = set()
    if not hasattr(cell, "cells_and_names"):
        return []
    for _, sub in cell.cells_and_names():
        for value in vars(sub).values():
            func = getattr(value, "func", None)
            if getattr(value, "func_type", None) == "aot" and isinstance(func, str):
                found.add(func.rsplit(":", 1)[0])
    return sorted(found)


__all__ = ["build_library", "use_native_kernels", "native_kernels", "kernel_dir", "aot_entry", "native_libraries",
           "LANE_BUFFERS", "NATIVE_LANES"]
