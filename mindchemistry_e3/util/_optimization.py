"""e3nn's global optimisation switches (``e3nn.set_optimization_defaults`` / ``get_optimization_defaults``).

e3nn uses them to choose how its tensor products generate code (``specialized_code``, ``optimize_einsums``) and
whether generated code is TorchScript-compiled (``jit_script_fx``, ``jit_mode``). Here every Cell always executes
its numpy-made plan, so the switches change no result and no speed: they are kept, validated and reported exactly
as e3nn 0.6.0 does (including the legacy ``jit_script_fx`` -> ``jit_mode`` mapping), so that e3nn code that sets
or reads them runs unchanged. ``jit_mode`` defaults to ``'eager'``, e3nn 0.6.0's default under PyTorch >= 2.10.

>>> before = get_optimization_defaults()
>>> set_optimization_defaults(jit_script_fx=False); get_optimization_defaults()["jit_mode"]
'eager'
>>> set_optimization_defaults(**before)
"""
__all__ = ["set_optimization_defaults", "get_optimization_defaults"]

JIT_MODES = ("script", "inductor", "eager")

_OPT_DEFAULTS = {"specialized_code": True, "optimize_einsums": True, "jit_script_fx": True, "jit_mode": "eager"}


def _jit_mode_from_script_fx(jit_script_fx, jit_mode):
    """e3nn's legacy mapping: ``jit_script_fx=False`` means eager; True means script unless already compiled."""
    if not jit_script_fx:
        return "eager"
    if jit_mode in ("script", "inductor"):
        return jit_mode
    return "script"


def set_optimization_defaults(**kwargs):
    r"""Set e3nn's global optimisation switches (accepted for e3nn compatibility; they change no result here).

    Args:
        **kwargs: any of ``specialized_code`` (bool), ``optimize_einsums`` (bool), ``jit_script_fx`` (bool; also
            sets ``jit_mode`` as e3nn does) and ``jit_mode`` (``'script'``, ``'inductor'`` or ``'eager'``).

    Raises:
        ValueError: for an unknown switch or an invalid ``jit_mode``.

    Examples:
        >>> set_optimization_defaults(optimize_einsums=False)
        >>> get_optimization_defaults()["optimize_einsums"]
        False
        >>> set_optimization_defaults(optimize_einsums=True)
    """
    for key, value in sorted(kwargs.items(), key=lambda item: item[0] == "jit_mode"):  # jit_mode last wins
        if key not in _OPT_DEFAULTS:
            raise ValueError(f"Unknown optimization option: {key}; known: {sorted(_OPT_DEFAULTS)}")
        if key == "jit_mode":
            _set_jit_mode(value)
        elif key == "jit_script_fx":
            _set_jit_mode(_jit_mode_from_script_fx(value, _OPT_DEFAULTS["jit_mode"]))
            _OPT_DEFAULTS[key] = value
        else:
            _OPT_DEFAULTS[key] = value


def _set_jit_mode(jit_mode):
    if jit_mode not in JIT_MODES:
        raise ValueError(f"Invalid jit_mode: {jit_mode!r}. Expected one of {JIT_MODES}.")
    _OPT_DEFAULTS["jit_mode"] = jit_mode


def get_optimization_defaults():
    """A copy of the current switches (a dict: ``specialized_code``, ``optimize_einsums``, ``jit_script_fx``,
    ``jit_mode``)."""
    return dict(_OPT_DEFAULTS)
