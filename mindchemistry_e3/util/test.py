r"""Equivariance testing helpers, mirroring ``e3nn.util.test``.

:func:`equivariance_error` evaluates ``func`` twice per random group element :math:`g \in O(3)` (and, for
``'cartesian_points'`` arguments, a random translation :math:`t`):

.. math::

    \mathrm{err}_i = \max \left| f_i(D_{in}(g)\, x) - D_{out,i}(g)\, f_i(x) \right|,

where :math:`D(g)` is ``Irreps.D_from_matrix`` of the (possibly improper) rotation matrix, points transform as
:math:`x \mapsto g x + t`, and arguments marked ``None`` are passed through unchanged. The group element is drawn in
float64 and the comparison is made in float64 numpy; transformed inputs are cast back to each input's dtype.
:func:`assert_equivariant` raises an ``AssertionError`` when an error exceeds the tolerance.

``func`` may be a ``mindspore.nn.Cell`` (in GRAPH_MODE or PYNATIVE_MODE) or a plain function taking and returning
Tensors. Irreps not given are read from ``func.irreps_in`` / ``func.irreps_in1, func.irreps_in2`` and
``func.irreps_out``, as e3nn does.

Random numbers (rotations, translations, generated inputs) come from numpy's global state and Python's ``random``
module (batch sizes, :func:`random_irreps`); :func:`set_random_seeds` seeds both and MindSpore.

>>> import mindspore as ms
>>> from mindchemistry_e3 import o3
>>> def square_norm(x):
...     return (x * x).sum(-1, keepdims=True)
>>> errors = assert_equivariant(square_norm, irreps_in="1o", irreps_out="0e")
>>> sorted(errors)
[(0, False), (1, False)]
"""
import itertools
import logging
import random
import warnings

import numpy as np
import mindspore as ms

from ._optimization import get_optimization_defaults, set_optimization_defaults
from .dtype import to_numpy_dtype
from .jit import compile, get_compile_mode, get_tracing_inputs  # pylint: disable=redefined-builtin
from .jit import _check_against_eager  # pylint: disable=protected-access

__all__ = [
    "FLOAT_TOLERANCE",
    "random_irreps",
    "format_equivariance_error",
    "assert_equivariant",
    "equivariance_error",
    "assert_auto_jitable",
    "assert_torch_compile",
    "assert_normalized",
    "set_random_seeds",
    "compile",
    "get_compile_mode",
    "get_tracing_inputs",
    "set_optimization_defaults",
    "get_optimization_defaults",
]

logger = logging.getLogger(__name__)

#: Default tolerance on the largest componentwise equivariance error, by the precision of the inputs.
FLOAT_TOLERANCE = {ms.float32: 1e-3, ms.float64: 1e-9}

def _o3():
    # imported lazily: o3 imports util.dtype, so a module-level import would be circular
    from .. import o3

    return o3


def _is_points(x):
    return isinstance(x, str) and x == "cartesian_points"


def _is_special(x):
    return x is None or _is_points(x)


def _logging_name(func):
    return getattr(func, "__name__", None) or repr(func)


def random_irreps(n=1, lmax=4, mul_min=0, mul_max=5, len_min=0, len_max=4, clean=False, allow_empty=True):
    r"""Random irreps for tests (drawn with Python's ``random`` module).

    Args:
        n (int): how many to draw. Default: 1.
        lmax (int): largest ``l`` (inclusive). Default: 4.
        mul_min, mul_max (int): range of the multiplicities (inclusive). Default: 0, 5.
        len_min, len_max (int): range of the number of ``(mul, ir)`` terms (inclusive). Default: 0, 4.
        clean (bool): only return ``o3.Irreps``; otherwise strings and lists of tuples may be returned too.
        allow_empty (bool): whether an irreps of dimension zero may be returned.

    Returns:
        An irreps-like object if ``n == 1``, else a list of ``n`` of them.

    Raises:
        ValueError: on inconsistent bounds.

    Examples:
        >>> from mindchemistry_e3 import o3
        >>> isinstance(random_irreps(clean=True, allow_empty=False), o3.Irreps)
        True
    """
    o3 = _o3()
    if n < 1 or lmax < 0 or mul_min < 0 or mul_max < mul_min:
        raise ValueError(f"random_irreps: need n >= 1, lmax >= 0, 0 <= mul_min <= mul_max; got n={n}, "
                         f"lmax={lmax}, mul_min={mul_min}, mul_max={mul_max}")
    if not allow_empty:
        len_min = max(len_min, 1)
        if mul_max == 0:
            raise ValueError("random_irreps: allow_empty=False needs mul_max >= 1")
    if len_min < 0 or len_max < len_min:
        raise ValueError(f"random_irreps: need 0 <= len_min <= len_max; got len_min={len_min}, len_max={len_max}")
    out = []
    for _ in range(n):
        terms = [
            (random.randint(mul_min, mul_max), (random.randint(0, lmax), random.choice((1, -1))))
            for _ in range(random.randint(len_min, len_max))
        ]
        if not allow_empty and all(mul == 0 for mul, _ in terms):
            terms[-1] = (random.randint(max(mul_min, 1), mul_max), terms[-1][1])
        irreps = o3.Irreps(terms)
        kind = "irreps" if clean else random.choice(("irreps", "str", "list"))
        if kind == "irreps":
            out.append(irreps)
        elif kind == "str":
            out.append(repr(irreps))
        else:
            out.append([(mul, (ir.l, ir.p)) for mul, ir in irreps])
    return out[0] if n == 1 else out


def format_equivariance_error(errors):
    """One readable line per case of the dict returned by :func:`equivariance_error`.

    Examples:
        >>> import numpy as np
        >>> format_equivariance_error({(0, False): np.array([1e-7, 3e-6])})
        '(parity_k=0, did_translate=False) -> max error=3.000e-06 in argument 1'
    """
    return "\n".join(
        "(parity_k={:d}, did_translate={}) -> max error={:.3e} in argument {}".format(
            int(k[0]), bool(k[1]), float(np.max(v)) if np.size(v) else 0.0, int(np.argmax(v)) if np.size(v) else -1
        )
        for k, v in errors.items()
    )


def _normalize_irreps_list(irreps, func, which):
    o3 = _o3()
    if isinstance(irreps, o3.Irreps) or _is_special(irreps):
        return [irreps]
    if isinstance(irreps, list):
        return [i if _is_special(i) else o3.Irreps(i) for i in irreps]
    # a string, an Irrep, or a tuple: one Irreps (as e3nn does; use a list for several arguments)
    try:
        return [o3.Irreps(irreps)]
    except Exception as error:  # noqa: BLE001 - report what could not be parsed
        raise ValueError(f"{which} of {func!r} is not an Irreps, 'cartesian_points', None or a list of them: "
                         f"{irreps!r} ({error})") from error


def _get_io_irreps(func, irreps_in=None, irreps_out=None):
    """The input and output irreps of ``func`` as lists (one entry per argument / output)."""
    if irreps_in is None:
        if hasattr(func, "irreps_in"):
            irreps_in = func.irreps_in
        elif hasattr(func, "irreps_in1"):
            irreps_in = [func.irreps_in1, func.irreps_in2]
        else:
            raise ValueError(f"Cannot infer irreps_in for {func!r}; provide them explicitly")
    if irreps_out is None:
        if hasattr(func, "irreps_out"):
            irreps_out = func.irreps_out
        else:
            raise ValueError(f"Cannot infer irreps_out for {func!r}; provide them explicitly")
    return _normalize_irreps_list(irreps_in, func, "irreps_in"), _normalize_irreps_list(irreps_out, func, "irreps_out")


def _guess_dtype(func):
    """Floating dtype for generated inputs: the first float Parameter of a Cell, a ``dtype`` attribute, or float64."""
    if isinstance(func, ms.nn.Cell):
        for p in func.get_parameters():
            if p.dtype in (ms.float32, ms.float64):
                return p.dtype
    dtype = getattr(func, "dtype", None)
    if dtype in (ms.float32, ms.float64):
        return dtype
    return ms.float64


def _rand_args(irreps_in, batch_size=None, dtype=ms.float64):
    """Standard-normal inputs of shape (batch, dim) for each Irreps / 'cartesian_points' argument."""
    if not all(isinstance(i, _o3().Irreps) or _is_points(i) for i in irreps_in):
        raise ValueError("Random arguments cannot be generated when argument types besides Irreps and "
                         "'cartesian_points' are specified; provide explicit args_in")
    if batch_size is None:
        batch_size = random.randint(1, 4)
    np_dtype = np.float64 if dtype == ms.float64 else np.float32
    return [
        ms.Tensor(np.random.standard_normal((batch_size, 3 if _is_points(irreps) else irreps.dim))
                  .astype(np_dtype), dtype)
        for irreps in irreps_in
    ]


def _to_numpy64(x):
    return x.asnumpy().astype(np.float64) if isinstance(x, ms.Tensor) else np.asarray(x, dtype=np.float64)


def _transform(data, irreps_data, rot_mat, translation, as_numpy=False):
    """Act with (rot_mat, translation) on each item according to its irreps, in the precision of ``rot_mat``.

    Returns Tensors of each item's dtype, or numpy arrays when ``as_numpy``.
    """
    out = []
    for irreps, x in zip(irreps_data, data):
        if irreps is None:
            out.append(_to_numpy64(x) if as_numpy else x)
            continue
        if not isinstance(x, ms.Tensor):
            raise ValueError(f"an argument with irreps {irreps!r} must be a Tensor, got {type(x).__name__}")
        x64 = _to_numpy64(x).astype(rot_mat.dtype)
        if _is_points(irreps):
            if x64.shape[-1:] != (3,):
                raise ValueError(f"'cartesian_points' must have shape (..., 3), got {x.shape}")
            y = x64 @ rot_mat.T + translation
        else:
            if x64.shape[-1:] != (irreps.dim,):
                raise ValueError(f"an argument with irreps {irreps} must have shape (..., {irreps.dim}), "
                                 f"got {x.shape}")
            D = irreps.D_from_matrix(ms.Tensor(rot_mat.astype(np.float64), ms.float64)).asnumpy()
            D = D.astype(rot_mat.dtype)
            y = x64 @ D.T
        if as_numpy:
            out.append(y)
        else:
            np_dtype = np.float64 if x.dtype == ms.float64 else np.float32
            out.append(ms.Tensor(y.astype(np_dtype), x.dtype))
    return out


def _as_list(outputs):
    if isinstance(outputs, ms.Tensor):
        return [outputs]
    if isinstance(outputs, (list, tuple)):
        return list(outputs)
    raise TypeError(f"equivariance_error cannot handle output type {type(outputs)}")


def equivariance_error(func, args_in, irreps_in=None, irreps_out=None, ntrials=1, do_parity=True,
                       do_translation=True, transform_dtype=ms.float64):
    r"""The largest equivariance error of ``func`` over ``ntrials`` random transformations.

    Args:
        func (Callable): a Cell or function of Tensors.
        args_in (list): the inputs of ``func``.
        irreps_in: ``o3.Irreps`` (or anything ``o3.Irreps`` accepts), ``'cartesian_points'``, ``None`` (not
            transformed), or a list of those, one per argument. Default: ``func.irreps_in``.
        irreps_out: same, one per output. Default: ``func.irreps_out``.
        ntrials (int): number of random transformations per case. Default: 1.
        do_parity (bool): also test improper rotations (:math:`-R`). Default: True.
        do_translation (bool): also translate ``'cartesian_points'`` arguments (if any). Default: True.
        transform_dtype (mindspore.dtype): precision of the random transformation and of applying it (float64,
            e3nn's default, or float32); the errors are measured in float64.

    Returns:
        dict mapping ``(parity_k, did_translate)`` to a float64 numpy array with, per output, the largest
        absolute componentwise error over the trials.

    Raises:
        ValueError: if irreps cannot be inferred or do not match the arguments' shapes.
        TypeError: if ``func`` returns something other than a Tensor or a tuple/list of Tensors.

    Examples:
        >>> import mindspore as ms
        >>> from mindchemistry_e3 import o3
        >>> x = o3.Irreps("1o").randn(4, -1, dtype=ms.float64)
        >>> err = equivariance_error(lambda v: v * 2, [x], irreps_in="1o", irreps_out="1o")
        >>> bool(max(e.max() for e in err.values()) < 1e-12)
        True
    """
    if transform_dtype not in (ms.float32, ms.float64):
        raise ValueError(f"transform_dtype must be mindspore.float32 or float64, got {transform_dtype}")
    work = np.float64 if transform_dtype == ms.float64 else np.float32
    irreps_in, irreps_out = _get_io_irreps(func, irreps_in, irreps_out)
    args_in = list(args_in)
    if len(args_in) != len(irreps_in):
        raise ValueError(f"got {len(args_in)} arguments for {len(irreps_in)} irreps_in {irreps_in}")
    parity_ks = [0, 1] if do_parity else [0]
    translate = [False, True] if (do_translation and any(_is_points(i) for i in irreps_in)) else [False]
    cases = list(itertools.product(parity_ks, translate))
    biggest = {case: np.full(len(irreps_out), -np.inf) for case in cases}

    # the untransformed outputs do not depend on the trial
    x2_plain = _as_list(func(*args_in))
    if len(x2_plain) != len(irreps_out):
        raise ValueError(f"{_logging_name(func)} returned {len(x2_plain)} outputs for {len(irreps_out)} irreps_out "
                         f"{irreps_out}")
    from ..o3 import _rotation

    for _ in range(ntrials):
        for case in cases:
            parity_k, do_translate = case
            rot_mat = (_rotation.rand_matrix(dtype=ms.float64).asnumpy() * (-1.0) ** parity_k).astype(work)
            translation = (10 * np.random.standard_normal((1, 3)) if do_translate else np.zeros((1, 3))).astype(work)
            # f(g x)
            x1 = [_to_numpy64(t) for t in _as_list(func(*_transform(args_in, irreps_in, rot_mat, translation)))]
            # g f(x)
            x2 = _transform(x2_plain, irreps_out, rot_mat, translation, as_numpy=True)
            if len(x1) != len(x2):
                raise ValueError(f"{_logging_name(func)} returned {len(x1)} outputs on transformed inputs, "
                                 f"{len(x2)} on the original ones")
            errors = np.array([np.abs(a - b.astype(np.float64)).max() if a.size else 0.0 for a, b in zip(x1, x2)])
            biggest[case] = np.maximum(biggest[case], errors)
    return biggest


def assert_equivariant(func, args_in=None, irreps_in=None, irreps_out=None, tolerance=None, *, dtype=None,
                       **kwargs):
    r"""Assert that ``func`` is equivariant (raise ``AssertionError`` otherwise).

    Args:
        func (Callable): a Cell or function of Tensors.
        args_in (list, optional): inputs. If ``None``, random inputs of shape ``(batch, dim)`` are drawn for
            every ``Irreps`` / ``'cartesian_points'`` argument (batch size 1 to 4).
        irreps_in, irreps_out: see :func:`equivariance_error`.
        tolerance (float, optional): largest allowed componentwise error. Default: ``FLOAT_TOLERANCE`` of the
            least precise floating input (1e-3 for float32, 1e-9 for float64).
        dtype (mindspore.dtype, optional): dtype of generated inputs. Default: the dtype of the Cell's first
            float Parameter, else ``func.dtype`` if set, else float64.
        **kwargs: passed to :func:`equivariance_error` (``ntrials``, ``do_parity``, ``do_translation``).

    Returns:
        The dict of :func:`equivariance_error`.

    Raises:
        AssertionError: if an error exceeds ``tolerance``.

    Examples:
        >>> from mindchemistry_e3 import o3
        >>> def negate(x):
        ...     return -x
        >>> _ = assert_equivariant(negate, irreps_in=o3.Irreps("2x1o + 2e"), irreps_out=o3.Irreps("2x1o + 2e"))
    """
    __tracebackhide__ = True  # pylint: disable=unused-variable
    irreps_in, irreps_out = _get_io_irreps(func, irreps_in, irreps_out)
    if args_in is None:
        args_in = _rand_args(irreps_in, dtype=_guess_dtype(func) if dtype is None else dtype)
    if len(args_in) != len(irreps_in):
        raise ValueError(f"irreps_in {irreps_in} and args_in ({len(args_in)} arguments) don't match in length")
    errors = equivariance_error(func, args_in=args_in, irreps_in=irreps_in, irreps_out=irreps_out, **kwargs)
    logger.info("Tested equivariance of `%s` -- max componentwise errors:\n%s", _logging_name(func),
                format_equivariance_error(errors))
    if tolerance is None:
        float_dtypes = [a.dtype for a in args_in if isinstance(a, ms.Tensor) and a.dtype in FLOAT_TOLERANCE]
        tolerance = FLOAT_TOLERANCE[ms.float64] if float_dtypes and all(d == ms.float64 for d in float_dtypes) \
            else FLOAT_TOLERANCE[ms.float32]
    problems = {case: err for case, err in errors.items() if np.size(err) and np.max(err) > tolerance}
    if problems:
        raise AssertionError("Largest componentwise equivariance error was too large for: "
                             + format_equivariance_error(problems))
    return errors


def set_random_seeds(seed=0):
    """Seed Python's ``random``, numpy's global state and MindSpore.

    Examples:
        >>> set_random_seeds(0)
    """
    random.seed(seed)
    np.random.seed(seed)
    ms.set_seed(seed)


def _bad_shape_raises(func, args):
    """Whether ``func`` refuses ``args`` with one argument's last axis cut short (1 to 3 components)."""
    args = list(args)
    which = random.randint(0, len(args) - 1)
    cut = min(random.randint(1, 3), args[which].shape[-1])
    args[which] = args[which][..., :args[which].shape[-1] - cut]
    try:
        func(*args)
    except (ValueError, RuntimeError, TypeError, IndexError):
        return True
    return False


def assert_auto_jitable(func, error_on_warnings=True, n_trace_checks=2, strict_shapes=True):
    r"""Assert that a Cell marked with :func:`~mindchemistry_e3.util.jit.compile_mode` compiles to a graph that
    computes what it computes op by op, and that the compiled Cell refuses inputs of the wrong size.

    The Cell is compiled in place with :func:`~mindchemistry_e3.util.jit.compile`. When tracing inputs can be
    inferred (``_make_tracing_inputs`` or ``irreps_in``), ``n_trace_checks`` of them are run compiled and op by
    op and compared; with ``strict_shapes`` one argument is then cut short and the call must raise.

    Args:
        func (nn.Cell): a Cell whose class is marked with a compile mode.
        error_on_warnings (bool): turn warnings raised while compiling into errors. Default: True.
        n_trace_checks (int): number of tracing inputs. Default: 2.
        strict_shapes (bool): check that bad input sizes are refused. Default: True.

    Returns:
        The compiled Cell.

    Raises:
        ValueError: if ``func`` is not marked. AssertionError: if a bad shape is accepted. RuntimeError: if the
        compiled and op-by-op outputs differ.

    Examples:
        >>> from mindchemistry_e3.nn.models.v2106.points_convolution import Convolution
        >>> conv = assert_auto_jitable(Convolution("0e", "0e", "0e + 1o", "0e + 1o", [2], 2.0))
    """
    __tracebackhide__ = True  # pylint: disable=unused-variable
    if get_compile_mode(func) is None:
        raise ValueError("assert_auto_jitable is only for Cells marked with @compile_mode")
    with warnings.catch_warnings():
        if error_on_warnings:
            warnings.simplefilter("error")
        func_jit = compile(func, n_trace_checks=n_trace_checks)
    try:
        inputs = get_tracing_inputs(func_jit, n_trace_checks)
    except ValueError:  # cannot infer inputs: nothing more to check
        return func_jit
    if get_compile_mode(func_jit) != "trace":  # a 'trace' compile has checked them already
        _check_against_eager(func_jit, inputs)
    if strict_shapes and not hasattr(func, "_make_tracing_inputs"):
        for method, args in inputs[0].items():
            target = func_jit if method == "forward" else getattr(func_jit, method)
            if not _bad_shape_raises(target, args):
                raise AssertionError(f"compiled {type(func).__name__} did not refuse an input of the wrong size")
    return func_jit


def assert_torch_compile(compile_mode, func, *args, **kwargs):
    r"""e3nn's ``assert_torch_compile`` in MindSpore terms: build ``func()`` with the optimisation switch
    ``jit_mode=compile_mode``, compile it as one whole graph (``mindspore.jit(..., fullgraph=True)``) and run it.

    Args:
        compile_mode (str): ``'script'``, ``'inductor'`` or ``'eager'`` (e3nn's ``jit_mode``).
        func (Callable): returns the Cell (e.g. a ``functools.partial`` of its class).
        *args, **kwargs: inputs of the Cell.

    Returns:
        The compiled ``construct``.

    Examples:
        >>> import functools
        >>> from mindchemistry_e3 import o3
        >>> fn = assert_torch_compile("eager", functools.partial(o3.Norm, "1o"), o3.Irreps("1o").randn(2, -1, seed=0))
    """
    before = get_optimization_defaults()["jit_mode"]
    try:
        set_optimization_defaults(jit_mode=compile_mode)
        module = func()
        compiled = ms.jit(module.construct, fullgraph=True)
        compiled(*args, **kwargs)
    finally:
        set_optimization_defaults(jit_mode=before)
    return compiled


def assert_normalized(func, irreps_in=None, irreps_out=None, normalization="component", n_input=10_000,
                      n_weight=None, weights=None, atol=0.1):
    r"""Assert that ``func`` keeps e3nn's normalisation: for normalised random inputs (and weights redrawn from
    :math:`\mathcal{N}(0, 1)` ``n_weight`` times), every output component has :math:`\langle x_i^2 
angle pprox
    1` (``'component'``) or :math:`1/(2l+1)` (``'norm'``) within ``atol``.

    Args:
        func (Callable): a Cell or function of Tensors.
        irreps_in, irreps_out: see :func:`equivariance_error`.
        normalization (str): ``'component'`` or ``'norm'``, for inputs and outputs.
        n_input (int): inputs per weight draw. Default: 10000.
        n_weight (int, optional): number of weight draws. Default: 20 (1 without weights).
        weights (list[Parameter], optional): the weights to redraw. Default: the Cell's parameters.
        atol (float): tolerance on the moments. Default: 0.1.

    Raises:
        ValueError: unknown ``normalization``, or ``n_weight`` > 1 without weights.
        AssertionError: a moment off by more than ``atol``.

    Examples:
        >>> from mindchemistry_e3 import o3
        >>> assert_normalized(o3.SphericalHarmonics("0e + 1o + 2e", True, "component"), irreps_in="1o")
    """
    __tracebackhide__ = True  # pylint: disable=unused-variable
    if normalization not in ("component", "norm"):
        raise ValueError(f"invalid normalization {normalization!r}")
    irreps_in, irreps_out = _get_io_irreps(func, irreps_in=irreps_in, irreps_out=irreps_out)
    if all(i.num_irreps == 0 for i in irreps_in) or all(i.num_irreps == 0 for i in irreps_out):
        return
    if weights is None:
        weights = func.trainable_params() if isinstance(func, ms.nn.Cell) else []
    weights = list(weights)
    if not weights:
        if n_weight not in (None, 1):
            raise ValueError("without weights to redraw, n_weight must be 1 or None")
        n_weight = 1
    elif n_weight is None:
        n_weight = 20
    dtype = _guess_dtype(func)
    np_dtype = np.float64 if dtype == ms.float64 else np.float32
    sums = [np.zeros(irreps.dim) for irreps in irreps_out]
    for _ in range(n_weight):
        for param in weights:
            value = ms.Tensor(np.random.standard_normal(param.shape).astype(to_numpy_dtype(param.dtype)), param.dtype)
            ms.ops.assign(param, value)  # in place: seen by a Cell compiled with mindspore.jit, unlike set_data
        args_in = _rand_args(irreps_in, batch_size=n_input, dtype=dtype)
        if normalization == "norm":
            scaled = []
            for irreps, x in zip(irreps_in, args_in):
                scale = np.concatenate([np.full(mul * ir.dim, ir.dim ** -0.5) for mul, ir in irreps] + [np.zeros(0)])
                scaled.append(x * ms.Tensor(scale.astype(np_dtype), dtype))
            args_in = scaled
        outs = _as_list(func(*args_in))
        if len(outs) != len(irreps_out):
            raise ValueError(f"{_logging_name(func)} returned {len(outs)} outputs for {len(irreps_out)} irreps_out")
        for i, out in enumerate(outs):
            sums[i] += (_to_numpy64(out) ** 2).sum(axis=0)
    for total, irreps in zip(sums, irreps_out):
        if _is_special(irreps):
            continue
        mean = total / (n_weight * n_input)
        start = 0
        for i, (mul, ir) in enumerate(irreps):
            stop = start + mul * ir.dim
            if stop > start:
                target = 1.0 if normalization == "component" else 1.0 / ir.dim ** 0.5
                error = float(np.abs(mean[start:stop] - target).max())
                logger.info("Tested normalization of %r: max componentwise error %.6f", _logging_name(func), error)
                assert error <= atol, (f"< x_i^2 > !~= {target:.6f} for output irrep #{i}, {mul}x{ir}. "
                                       f"Max componentwise error: {error:.6f}")
            start = stop
