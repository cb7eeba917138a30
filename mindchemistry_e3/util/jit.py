r"""e3nn's ``e3nn.util.jit`` names, with their MindSpore meaning: compiling a Cell means running it as a graph.

e3nn marks modules with ``@compile_mode("script" | "trace" | "unsupported")`` and compiles them with TorchScript.
The MindSpore counterpart of a TorchScript module is a Cell whose ``construct`` is compiled by ``mindspore.jit``
(the same graph compiler GRAPH_MODE uses), so here:

* :func:`compile_mode` marks a Cell class, :func:`get_compile_mode` reads the mark (as in e3nn);
* :func:`compile` (and :func:`script`, :func:`trace`, :func:`trace_module`) replace the ``construct`` of a marked
  Cell, in place or on a deep copy, by its ``mindspore.jit``-compiled version, so that it runs as one graph even in
  PYNATIVE_MODE (in GRAPH_MODE it already does). A ``'trace'`` compile also runs the compiled Cell on its tracing
  inputs (:func:`get_tracing_inputs`: the module's ``_make_tracing_inputs`` or random inputs from its
  ``irreps_in``) and checks it against the uncompiled ``construct`` run op by op, the role of TorchScript's trace
  checks; ``'unsupported'`` raises ``NotImplementedError``; unmarked Cells are only searched for marked children
  (``recurse``);
* :func:`disable_e3nn_codegen` and the optimisation switches are kept for compatibility: there is no code
  generation to disable (every Cell executes its numpy-made plan).

``script_options`` / ``trace_options`` are passed to ``mindspore.jit`` (e.g. ``{"jit_level": "O0"}``). The method
key ``"forward"`` of tracing inputs (e3nn's name) means the Cell call, i.e. ``construct``.

In PYNATIVE_MODE a ``mindspore.jit``-compiled Cell keeps the Parameter values it was compiled with when a Parameter
is given new data with ``Parameter.set_data`` (measured on MindSpore 2.10; GRAPH_MODE sees them): change weights of
a compiled Cell in place, with ``mindspore.ops.assign(param, value)`` (as :func:`~mindchemistry_e3.util.
load_e3nn_state_dict` does) -- optimizers update in place too.

A compiled Cell still runs its Python ``__call__``, so PyNative second-order gradients through it are refused
like those of any other Cell of the library (see :mod:`mindchemistry_e3.util.second_order`): compile the whole
loss (GRAPH_MODE or ``mindspore.jit`` around the function that takes both gradients) for those.

>>> from mindchemistry_e3 import o3
>>> norm = script(o3.Norm("2x1o"))            # construct now runs through mindspore.jit
>>> norm(o3.Irreps("2x1o").randn(3, -1, seed=0)).shape
(3, 2)
"""
import contextlib
import copy
import inspect
import warnings

import numpy as np
import mindspore as ms

from ._optimization import get_optimization_defaults, set_optimization_defaults
from .dtype import FLOAT_DTYPES

__all__ = [
    "compile_mode",
    "get_compile_mode",
    "compile",
    "get_tracing_inputs",
    "trace_module",
    "trace",
    "script",
    "disable_e3nn_codegen",
    "set_optimization_defaults",
    "get_optimization_defaults",
]

_E3NN_COMPILE_MODE = "__e3nn_compile_mode__"
_VALID_MODES = ("trace", "script", "unsupported", None)
_MAKE_TRACING_INPUTS = "_make_tracing_inputs"
_COMPILED = "_e3_compiled_methods"
_CHECK_TOLERANCE = {ms.float64: (1e-9, 1e-12), ms.float32: (1e-4, 1e-5)}


def compile_mode(mode):
    """Class decorator that sets the compile mode of a Cell class: ``'script'``, ``'trace'``, ``'unsupported'``
    or None.

    Args:
        mode (str): the mode.

    Returns:
        The decorator.

    Raises:
        ValueError: for another mode. TypeError: (from the decorator) for something that is not an ``nn.Cell``
        subclass.

    Examples:
        >>> import mindspore as ms
        >>> @compile_mode("trace")
        ... class Net(ms.nn.Cell):
        ...     def construct(self, x):
        ...         return x
        >>> get_compile_mode(Net())
        'trace'
    """
    if mode not in _VALID_MODES:
        raise ValueError(f"Invalid compile mode {mode!r}; expected one of {_VALID_MODES}")

    def decorator(obj):
        if not (inspect.isclass(obj) and issubclass(obj, ms.nn.Cell)):
            raise TypeError("@compile_mode can only decorate classes derived from mindspore.nn.Cell, "
                            f"got {obj!r}")
        setattr(obj, _E3NN_COMPILE_MODE, mode)
        return obj

    return decorator


def get_compile_mode(mod):
    """The compile mode of ``mod`` (its own mark, else its class's): ``'script'``, ``'trace'``, ``'unsupported'``
    or None when unmarked.

    Examples:
        >>> import mindspore as ms
        >>> get_compile_mode(ms.nn.Cell()) is None
        True
    """
    mode = getattr(mod, _E3NN_COMPILE_MODE, None)
    if mode not in _VALID_MODES:
        raise ValueError(f"Invalid compile mode {mode!r} on {type(mod).__name__}")
    return mode


def _method_name(name):
    return "construct" if name == "forward" else name


def _jit_methods(mod, names, options):
    """Replace the methods ``names`` of ``mod`` by their ``mindspore.jit`` versions (once)."""
    done = getattr(mod, _COMPILED, ())
    for name in names:
        name = _method_name(name)
        if name in done:
            continue
        if not callable(getattr(mod, name, None)):
            raise ValueError(f"{type(mod).__name__} has no method {name!r} to compile")
        object.__setattr__(mod, name, ms.jit(getattr(mod, name), **options))
        done = done + (name,)
    object.__setattr__(mod, _COMPILED, done)


def _uncompiled(mod, name):
    """The original (class-level) method ``name`` of ``mod``, bound."""
    return getattr(type(mod), _method_name(name)).__get__(mod)


def _flat_numpy(out):
    if isinstance(out, ms.Tensor):
        return [out.asnumpy()]
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _flat_numpy(o)]
    if isinstance(out, dict):
        return [a for k in sorted(out) for a in _flat_numpy(out[k])]
    return [np.asarray(out)]


def _check_against_eager(mod, inputs):
    """Run every traced method on every input dict, compiled and op by op, and compare the outputs."""
    for check in inputs:
        for name, args in check.items():
            compiled = getattr(mod, _method_name(name))(*args)
            previous = ms.get_context("mode")
            ms.set_context(mode=ms.PYNATIVE_MODE)
            try:
                eager = _uncompiled(mod, name)(*args)
            finally:
                ms.set_context(mode=previous)
            for a, b in zip(_flat_numpy(compiled), _flat_numpy(eager)):
                dtype = ms.float64 if a.dtype == np.float64 else ms.float32
                rtol, atol = _CHECK_TOLERANCE[dtype]
                if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol):
                    raise RuntimeError(f"compiled {type(mod).__name__}.{_method_name(name)} differs from its "
                                       f"op-by-op run on a tracing input (largest difference "
                                       f"{np.abs(a - b).max() if a.shape == b.shape else 'shape'})")


def compile(mod, n_trace_checks=1, script_options=None, trace_options=None, in_place=True, recurse=True):
    r"""Compile ``mod`` according to its compile mode (see the module doc); unmarked Cells are left as they are.

    Args:
        mod (nn.Cell): the Cell.
        n_trace_checks (int): number of tracing inputs a ``'trace'`` Cell is checked on (>= 1). Default: 1.
        script_options (dict, optional): keyword arguments of ``mindspore.jit`` for ``'script'`` Cells.
        trace_options (dict, optional): keyword arguments of ``mindspore.jit`` for ``'trace'`` Cells.
        in_place (bool): compile ``mod`` itself (True, default) or a deep copy.
        recurse (bool): look for marked Cells among the children of an unmarked one. Default: True.

    Returns:
        The compiled Cell.

    Raises:
        NotImplementedError: for a Cell marked ``'unsupported'``.
        ValueError: ``n_trace_checks < 1``, or a ``'trace'`` Cell whose tracing inputs cannot be inferred.
        RuntimeError: a ``'trace'`` Cell whose compiled output differs from its op-by-op one.

    Examples:
        >>> import mindspore as ms
        >>> from mindchemistry_e3 import o3
        >>> net = compile(ms.nn.SequentialCell([o3.Norm("2x1o")]))   # nothing marked: unchanged
        >>> net[0](o3.Irreps("2x1o").randn(3, -1, seed=0)).shape
        (3, 2)
    """
    if n_trace_checks < 1:
        raise ValueError(f"compile: n_trace_checks must be >= 1, got {n_trace_checks}")
    mode = get_compile_mode(mod)
    if mode == "unsupported":
        raise NotImplementedError(f"{type(mod).__name__} does not support compilation")
    if not in_place:
        mod = copy.deepcopy(mod)
    if mode == "script":
        _jit_methods(mod, ("construct",), script_options or {})
    elif mode == "trace":
        inputs = get_tracing_inputs(mod, n_trace_checks)
        if len(inputs) < 1:
            raise ValueError(f"compile: {type(mod).__name__} gave no tracing input")
        _jit_methods(mod, tuple(inputs[0]), trace_options or {})
        _check_against_eager(mod, inputs)
    elif recurse:
        for child in mod.name_cells().values():
            compile(child, n_trace_checks=n_trace_checks, script_options=script_options,
                    trace_options=trace_options, in_place=True, recurse=True)
    return mod


def get_tracing_inputs(mod, n=1, device=None, dtype=None):
    r"""Random inputs to trace ``mod`` with: ``mod._make_tracing_inputs(n)`` if it has one, else one random
    ``(batch, dim)`` Tensor per ``irreps_in`` entry.

    Args:
        mod (nn.Cell): the Cell.
        n (int): how many input sets are wanted (a hint). Default: 1.
        device: accepted for e3nn compatibility and ignored (MindSpore places Tensors on the device chosen with
            ``mindspore.set_device``).
        dtype (mindspore.dtype, optional): floating dtype of the inputs. Default: guessed from the Cell's
            parameters (float64 without any).

    Returns:
        list of dict mapping a method name (``"forward"`` = the call) to a tuple of arguments.

    Raises:
        ValueError: if the inputs cannot be inferred, or ``_make_tracing_inputs`` returns something else than a
        list of dict of tuples.

    Examples:
        >>> from mindchemistry_e3 import o3
        >>> [tuple(a.shape[-1] for a in d["forward"]) for d in get_tracing_inputs(o3.Norm("2x1o"), 2)]
        [(6,), (6,)]
    """
    del device
    from .test import _get_io_irreps, _guess_dtype, _rand_args  # pylint: disable=import-outside-toplevel

    if hasattr(mod, _MAKE_TRACING_INPUTS):
        inputs = getattr(mod, _MAKE_TRACING_INPUTS)(n)
        if not isinstance(inputs, list) or not all(
                isinstance(d, dict) and all(isinstance(k, str) and isinstance(v, tuple) for k, v in d.items())
                for d in inputs):
            raise ValueError("_make_tracing_inputs must return a list of dict[str, tuple]")
    else:
        irreps_in, _ = _get_io_irreps(mod, irreps_out=[None])
        gen_dtype = _guess_dtype(mod) if dtype is None else dtype
        inputs = [{"forward": tuple(_rand_args(irreps_in, dtype=gen_dtype))} for _ in range(n)]
    if dtype is not None:
        inputs = [{k: tuple(a.astype(dtype) if isinstance(a, ms.Tensor) and a.dtype in FLOAT_DTYPES else a
                            for a in v) for k, v in d.items()} for d in inputs]
    return inputs


def _with_mode(mod, mode, make_inputs, in_place):
    """Compile ``mod`` as if marked ``mode`` (and with tracing inputs ``make_inputs``), then restore its marks."""
    old_mode = mod.__dict__.get(_E3NN_COMPILE_MODE)
    class_mode = get_compile_mode(mod)
    if class_mode is not None and class_mode != mode:
        warnings.warn(f"compiling {type(mod).__name__}, marked with compile_mode {class_mode!r}, as {mode!r}")
    old_make = mod.__dict__.get(_MAKE_TRACING_INPUTS)
    object.__setattr__(mod, _E3NN_COMPILE_MODE, mode)
    if make_inputs is not None:
        object.__setattr__(mod, _MAKE_TRACING_INPUTS, make_inputs)
    out = mod
    try:
        out = compile(mod, in_place=in_place)
    finally:
        for name, old in ((_E3NN_COMPILE_MODE, old_mode), (_MAKE_TRACING_INPUTS, old_make)):
            for cell in {id(mod): mod, id(out): out}.values():
                if old is None:
                    cell.__dict__.pop(name, None)
                else:
                    object.__setattr__(cell, name, old)
    return out


def trace_module(mod, inputs=None, check_inputs=None, in_place=True):
    r"""Compile ``mod`` as a ``'trace'`` Cell: ``inputs`` (a dict method name -> argument tuple) and
    ``check_inputs`` (a list of such dicts) are run compiled and op by op and compared.

    Args:
        mod (nn.Cell): the Cell.
        inputs (dict, optional): e.g. ``{"forward": (x,)}``; default: :func:`get_tracing_inputs`.
        check_inputs (list[dict], optional): more inputs to check.
        in_place (bool): compile ``mod`` itself (default) or a deep copy.

    Returns:
        The compiled Cell.

    Examples:
        >>> from mindchemistry_e3 import o3
        >>> x = o3.Irreps("1o").randn(2, -1, seed=0)
        >>> trace_module(o3.Norm("1o"), inputs={"forward": (x,)})(x).shape
        (2, 1)
    """
    check_inputs = list(check_inputs or [])
    make = None
    if inputs is not None:
        def make(_n):
            return [inputs] + check_inputs
    return _with_mode(mod, "trace", make, in_place)


def trace(mod, example_inputs=None, check_inputs=None, in_place=True):
    r"""Compile ``mod`` as a ``'trace'`` Cell checked on ``example_inputs`` (a tuple of arguments) and on each
    tuple of ``check_inputs``; see :func:`trace_module`.

    Examples:
        >>> from mindchemistry_e3 import o3
        >>> x = o3.Irreps("1o").randn(2, -1, seed=0)
        >>> trace(o3.Norm("1o"), (x,))(x).shape
        (2, 1)
    """
    return trace_module(mod, inputs=None if example_inputs is None else {"forward": tuple(example_inputs)},
                        check_inputs=[{"forward": tuple(c)} for c in (check_inputs or [])], in_place=in_place)


def script(mod, in_place=True):
    r"""Compile ``mod`` as a ``'script'`` Cell (its ``construct`` through ``mindspore.jit``).

    Examples:
        >>> from mindchemistry_e3 import o3
        >>> script(o3.Norm("1o"))(o3.Irreps("1o").randn(2, -1, seed=0)).shape
        (2, 1)
    """
    return _with_mode(mod, "script", None, in_place)


@contextlib.contextmanager
def disable_e3nn_codegen():
    """Context manager kept for e3nn compatibility: sets ``jit_script_fx=False`` inside (no code generation exists
    here to disable).

    Examples:
        >>> with disable_e3nn_codegen():
        ...     get_optimization_defaults()["jit_script_fx"]
        False
    """
    before = get_optimization_defaults()
    set_optimization_defaults(jit_script_fx=False)
    try:
        yield
    finally:  # restore every switch (e3nn restores only jit_script_fx, which also moves jit_mode to 'script')
        set_optimization_defaults(**before)
