"""Checks of numbers from configs and command lines, with one wording everywhere:
``<name> must be <an integer | a number> <bound>, got <value>``.

>>> check_number(3, "training.max_epochs", integer=True, minimum=1)
3
>>> check_number(-0.01, "training.learning_rate", minimum=0, strict=True)
Traceback (most recent call last):
...
ValueError: training.learning_rate must be a number > 0, got -0.01
"""
import math

import numpy as np

__all__ = ["describe", "check_number"]


def describe(integer=False, minimum=None, strict=False, maximum=None, strict_max=False):
    """``'an integer >= 1'``, ``'a number in [0, 1)'``, ... for the bounds given.

    >>> describe(integer=True, minimum=1), describe(minimum=0, maximum=1, strict_max=True)
    ('an integer >= 1', 'a number in [0, 1)')
    """
    kind = "an integer" if integer else "a number"
    if minimum is not None and maximum is not None:
        return f"{kind} in {'(' if strict else '['}{minimum:g}, {maximum:g}{')' if strict_max else ']'}"
    if minimum is not None:
        return f"{kind} {'>' if strict else '>='} {minimum:g}"
    if maximum is not None:
        return f"{kind} {'<' if strict_max else '<='} {maximum:g}"
    return f"{'an integer' if integer else 'a finite number'}"


def check_number(value, name, *, integer=False, minimum=None, strict=False, maximum=None, strict_max=False,
                 alternatives=None):
    """``value`` if it is a finite number (an integer when ``integer``) within the bounds, else a ValueError
    worded as the module says (``alternatives``, e.g. ``"null"``, are named first: ``must be null or a number
    ...``). Booleans are not numbers here."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok and integer:
        ok = isinstance(value, (int, np.integer)) or (float(value).is_integer() and math.isfinite(value))
    if ok:
        ok = math.isfinite(float(value))
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if strict_max else value <= maximum
    if not ok:
        either = f"{alternatives} or " if alternatives else ""
        raise ValueError(f"{name} must be {either}{describe(integer, minimum, strict, maximum, strict_max)}, "
                         f"got {value!r}")
    return int(value) if integer else value
