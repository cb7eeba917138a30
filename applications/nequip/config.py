"""Run configuration of the NequIP application: defaults, YAML loading and validation.

A config has four sections; every key has a default (``DEFAULTS``) and an unknown key is an error, so a typo
never passes silently::

    run_name: aspirin            # outputs go to <out_dir>/<run_name>/
    out_dir: outputs/nequip
    seed: 0                      # weights and data order
    data:    {train_file, test_file, format, n_train, n_val, split_seed, energy_unit, length_unit, ...}
    model:   {r_max, l_max, parity, num_layers, num_features, num_basis, ...}
    training:{batch_size, max_epochs, learning_rate, amsgrad, ema_decay, loss weights, scheduler, ...}

>>> cfg = load_config({"model": {"l_max": 2}})
>>> cfg["model"]["l_max"], cfg["model"]["num_features"]
(2, 32)
"""
import copy
import os

from applications.nequip.checks import check_number
from applications.nequip.registry import check_activation, check_reader

__all__ = ["DEFAULTS", "load_config", "merge_config", "parse_set", "resolve_paths", "same_model", "to_yaml"]

DEFAULTS = {
    "run_name": "nequip",
    "out_dir": "outputs/nequip",
    "seed": 0,
    "dtype": "float32",
    "data": {
        "train_file": None,        # npz (rMD17 / sGDML) or extxyz; train + validation frames come from it
        "test_file": None,         # optional independent test set (evaluated at the end of training)
        "format": "auto",          # auto | rmd17 | sgdml | extxyz
        "energy_unit": None,       # None: the reader's default for the format (kcal/mol for npz, eV for extxyz)
        "length_unit": None,       # None: Å
        "n_train": None,           # None: everything not in validation
        "n_val": 0.05,             # int (frames) or float (fraction)
        "split_seed": 0,
        "buckets": None,           # None: the data layer's default padding buckets
    },
    "model": {
        "r_max": 4.0,              # Å
        "l_max": 1,
        "parity": True,            # features of both parities (NequIP's default)
        "num_layers": 3,
        "num_features": 32,
        "num_basis": 8,            # Bessel functions
        "trainable_bessel": True,
        "cutoff_p": 6,             # polynomial cutoff order
        "radial_mlp_layers": 2,    # hidden layers of the radial MLP
        "radial_mlp_neurons": 64,
        "resnet": False,
        "nonlinearity_scalars": {"e": "silu", "o": "tanh"},
        "nonlinearity_gates": {"e": "silu", "o": "tanh"},
        "avg_num_neighbors": "auto",   # "auto": mean over the training set; or a number; or null for 1
        "species": None,           # None: the species of the training set; or a list of symbols / numbers
        "per_species_shift": "auto",   # "auto": least squares of E on composition; or {symbol: eV}; or 0
        "per_species_scale": "auto",   # "auto": RMS of the training forces; or a number / {symbol: value}
        "scale_shift_trainable": False,
        "compute_dtype": None,     # None | float16 | bfloat16: MatMul operands (sums, energies, scale and shift: dtype)
    },
    "training": {
        "batch_size": 5,
        "max_epochs": 100,
        "learning_rate": 0.005,
        "amsgrad": True,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "ema_decay": 0.99,         # 0 or null disables EMA
        "loss_scale_init": 4096.0,  # compute_dtype float16: dynamic loss scaling (first scale;
        "loss_scale_window": 500,   # doubled after this many finite steps, halved after an overflow)
        "energy_weight": 1.0,      # on the squared per-atom energy error
        "force_weight": 1.0,       # on the squared force-component error
        "stress_weight": 0.0,      # on the squared stress-component error (periodic data with stress only)
        "lr_scheduler": "plateau",  # "plateau" (ReduceLROnPlateau on the validation loss) or "cosine"
                                    # (cosine decay to min_lr over max_epochs)
        "lr_factor": 0.5,          # ReduceLROnPlateau
        "lr_patience": 25,
        "lr_threshold": 1e-4,      # relative improvement that counts
        "min_lr": 1e-6,
        "early_stopping_patience": 50,  # epochs without validation improvement
        "early_stopping_min_lr": 1e-5,  # plateau: stop when the learning rate falls below this
        "max_time_s": None,        # stop after this wall time (checked after each epoch)
        "shuffle": True,
        "plot_every": 10,          # epochs between plot refreshes (and always at the end)
        "progress": True,          # progress bar on stderr
        "log_every": 0,            # >0: also print a line every this many steps
    },
}

_DTYPES = ("float32", "float64")
_COMPUTE_DTYPES = (None, "float16", "bfloat16")


def parse_set(items):
    """Command-line overrides ``--set a.b=value`` (each value parsed as YAML) -> a nested dict.

    >>> parse_set(["training.max_epochs=5", "model.l_max=2", "run_name=x"])
    {'training': {'max_epochs': 5}, 'model': {'l_max': 2}, 'run_name': 'x'}
    """
    import yaml

    out = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return out


def merge_config(base, override, path=""):
    """Recursively merge ``override`` into a copy of ``base``; unknown keys raise ValueError.

    >>> merge_config({"a": 1, "b": {"c": 2}}, {"b": {"c": 3}})
    {'a': 1, 'b': {'c': 3}}
    """
    out = copy.deepcopy(base)
    if override is None:
        return out
    if not isinstance(override, dict):
        raise ValueError(f"config{path or ''}: expected a mapping, got {type(override).__name__}")
    for key, value in override.items():
        where = f"{path}.{key}" if path else key
        if key not in base:
            known = ", ".join(sorted(base))
            raise ValueError(f"config: unknown key {where!r}; known keys here: {known}")
        if isinstance(base[key], dict) and key not in ("nonlinearity_scalars", "nonlinearity_gates"):
            out[key] = merge_config(base[key], value, where)
        elif isinstance(base[key], dict):
            if not isinstance(value, dict) or set(value) - {"e", "o"}:
                raise ValueError(f"config: {where} must be a mapping with keys 'e' and 'o', got {value!r}")
            out[key] = {**base[key], **value}
        else:
            out[key] = value
    return out


def _check(cfg):
    m, t, d = cfg["model"], cfg["training"], cfg["data"]
    if cfg["dtype"] not in _DTYPES:
        raise ValueError(f"config: dtype must be one of {', '.join(_DTYPES)}; got {cfg['dtype']!r}")
    check_number(cfg["seed"], "config: seed", integer=True, minimum=0)
    if m["compute_dtype"] not in _COMPUTE_DTYPES:
        raise ValueError(f"config: model.compute_dtype must be null, float16 or bfloat16; got {m['compute_dtype']!r}")
    if m["compute_dtype"] is not None and cfg["dtype"] != "float32":
        raise ValueError(f"config: model.compute_dtype {m['compute_dtype']} needs dtype float32 (the dtype of the "
                         f"parameters, sums and energies), got {cfg['dtype']!r}")
    check_number(t["loss_scale_init"], "config: training.loss_scale_init", minimum=1)
    check_number(t["loss_scale_window"], "config: training.loss_scale_window", integer=True, minimum=1)
    check_number(m["l_max"], "config: model.l_max", integer=True, minimum=0)
    check_number(m["radial_mlp_layers"], "config: model.radial_mlp_layers", integer=True, minimum=0)
    for key in ("num_layers", "num_features", "num_basis", "cutoff_p", "radial_mlp_neurons"):
        check_number(m[key], f"config: model.{key}", integer=True, minimum=1)
    check_number(m["r_max"], "config: model.r_max", minimum=0, strict=True)
    for key in ("nonlinearity_scalars", "nonlinearity_gates"):
        for p, name in m[key].items():
            check_activation(name, f"config: model.{key}.{p}")
    aan = m["avg_num_neighbors"]
    if not (aan is None or aan == "auto"):
        check_number(aan, "config: model.avg_num_neighbors", minimum=0, strict=True, alternatives="'auto', null")
    for key in ("batch_size", "max_epochs"):
        check_number(t[key], f"config: training.{key}", integer=True, minimum=1)
    for key in ("learning_rate", "lr_factor"):
        check_number(t[key], f"config: training.{key}", minimum=0, strict=True)
    for key in ("energy_weight", "force_weight", "stress_weight", "min_lr", "lr_threshold", "early_stopping_min_lr",
                "eps"):
        check_number(t[key], f"config: training.{key}", minimum=0)
    for key in ("beta1", "beta2"):
        check_number(t[key], f"config: training.{key}", minimum=0, maximum=1, strict_max=True)
    for key in ("lr_patience", "early_stopping_patience", "plot_every", "log_every"):
        check_number(t[key], f"config: training.{key}", integer=True, minimum=0)
    if t["max_time_s"] is not None:
        check_number(t["max_time_s"], "config: training.max_time_s", minimum=0, strict=True, alternatives="null")
    if t["energy_weight"] == 0 and t["force_weight"] == 0 and t["stress_weight"] == 0:
        raise ValueError("config: all loss weights (energy_weight, force_weight, stress_weight) are zero")
    if t["lr_scheduler"] not in ("plateau", "cosine"):
        raise ValueError(f"config: training.lr_scheduler must be 'plateau' or 'cosine', got {t['lr_scheduler']!r}")
    if t["ema_decay"] is not None:
        check_number(t["ema_decay"], "config: training.ema_decay", minimum=0, maximum=1, strict_max=True,
                     alternatives="null")
    check_reader(d["format"], "config: data.format")
    for key in ("train_file", "test_file"):
        if d[key] is not None and not isinstance(d[key], str):
            raise ValueError(f"config: data.{key} must be a file path, got {d[key]!r}")
    return cfg


def same_model(a, b):
    """Whether two ``model`` sections describe the same model; a key missing from one (a config written before the
    key existed, e.g. ``compute_dtype``) counts as its default.

    >>> same_model({"l_max": 1}, {"l_max": 1, "compute_dtype": None}), same_model({"l_max": 1}, {"l_max": 2})
    (True, False)
    """
    return {**DEFAULTS["model"], **a} == {**DEFAULTS["model"], **b}


def resolve_paths(cfg, base_dir):
    """``data.train_file`` and ``data.test_file`` made absolute: relative paths are relative to ``base_dir``
    (the config file's folder for a YAML file, the working directory for dicts and ``--set``)."""
    for key in ("train_file", "test_file"):
        value = cfg.get("data", {}).get(key)
        if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
            cfg["data"][key] = os.path.normpath(os.path.join(base_dir, value))
        elif isinstance(value, str) and value:
            cfg["data"][key] = os.path.expanduser(value)
    return cfg


def load_config(source=None, overrides=None):
    """Load a config from a YAML file path or a dict, apply ``overrides`` (a dict), fill defaults, validate.

    Paths of datasets in a YAML file are relative to that file's folder; in a dict and in ``overrides`` they are
    relative to the working directory. The returned config holds them as absolute paths. ``out_dir`` is relative
    to the working directory.

    Args:
        source (str or dict or None): path to a YAML file, or a (partial) config dict.
        overrides (dict, optional): applied after ``source``.

    Returns:
        dict: the complete config.

    Raises:
        ValueError: unknown keys, bad values, or a missing file.
    """
    base_dir = os.getcwd()
    if isinstance(source, (str, os.PathLike)):
        import yaml

        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ValueError(f"config file not found: {path}")
        with open(path, encoding="utf-8") as fh:
            try:
                source = yaml.safe_load(fh) or {}
            except yaml.YAMLError as err:
                raise ValueError(f"config file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
        base_dir = os.path.dirname(os.path.abspath(path))
    cfg = resolve_paths(merge_config(DEFAULTS, source), base_dir)
    if overrides:
        cfg = resolve_paths(merge_config(cfg, overrides), os.getcwd()) if _sets_paths(overrides) else \
            merge_config(cfg, overrides)
    return _check(cfg)


def _sets_paths(overrides):
    data = overrides.get("data") if isinstance(overrides, dict) else None
    return isinstance(data, dict) and any(k in data for k in ("train_file", "test_file"))


def to_yaml(cfg):
    """The config as YAML text (the ``config.yaml`` a run folder holds).

    >>> "l_max: 1" in to_yaml(load_config({}))
    True
    """
    import yaml

    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)
