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

import numpy as np
import mindspore as ms

__all__ = [
    "FLOAT_TOLERANCE",
    "random_irreps",
    "format_equivariance_error",
    "assert_equivariant",
    "equivariance_error",
    "set_random_seeds",
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
    """Act with (rot_mat, translation) on each item according to its irreps.

    Returns Tensors of each item's dtype, or float64 numpy arrays when ``as_numpy``.
    """
    out = []
    for irreps, x in zip(irreps_data, data):
        if irreps is None:
            out.append(_to_numpy64(x) if as_numpy else x)
            continue
        if not isinstance(x, ms.Tensor):
            raise ValueError(f"an argument with irreps {irreps!r} must be a Tensor, got {type(x).__name__}")
        x64 = _to_numpy64(x)
        if _is_points(irreps):
            if x64.shape[-1:] != (3,):
                raise ValueError(f"'cartesian_points' must have shape (..., 3), got {x.shape}")
            y = x64 @ rot_mat.T + translation
        else:
            if x64.shape[-1:] != (irreps.dim,):
                raise ValueError(f"an argument with irreps {irreps} must have shape (..., {irreps.dim}), "
                                 f"got {x.shape}")
            D = irreps.D_from_matrix(ms.Tensor(rot_mat, ms.float64)).asnumpy()
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
                       do_translation=True):
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
            rot_mat = _rotation.rand_matrix(dtype=ms.float64).asnumpy() * (-1.0) ** parity_k
            translation = 10 * np.random.standard_normal((1, 3)) if do_translate else np.zeros((1, 3))
            # f(g x)
            x1 = [_to_numpy64(t) for t in _as_list(func(*_transform(args_in, irreps_in, rot_mat, translation)))]
            # g f(x)
            x2 = _transform(x2_plain, irreps_out, rot_mat, translation, as_numpy=True)
            if len(x1) != len(x2):
                raise ValueError(f"{_logging_name(func)} returned {len(x1)} outputs on transformed inputs, "
                                 f"{len(x2)} on the original ones")
            errors = np.array([np.abs(a - b).max() if a.size else 0.0 for a, b in zip(x1, x2)])
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
