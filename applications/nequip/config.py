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

__all__ = ["DEFAULTS", "load_config", "merge_config", "parse_set"]

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
        raise ValueError(f"config: dtype must be one of {_DTYPES}, got {cfg['dtype']!r}")
    for key in ("l_max", "num_layers", "num_features", "num_basis", "cutoff_p", "radial_mlp_neurons"):
        v = m[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "l_max" else 1):
            raise ValueError(f"config: model.{key} must be a {'non-negative' if key == 'l_max' else 'positive'} "
                             f"integer, got {v!r}")
    if isinstance(m["radial_mlp_layers"], bool) or not isinstance(m["radial_mlp_layers"], int) \
            or m["radial_mlp_layers"] < 0:
        raise ValueError(f"config: model.radial_mlp_layers must be an integer >= 0, got {m['radial_mlp_layers']!r}")
    if not isinstance(m["r_max"], (int, float)) or isinstance(m["r_max"], bool) or m["r_max"] <= 0:
        raise ValueError(f"config: model.r_max must be a positive number (Å), got {m['r_max']!r}")
    for key in ("nonlinearity_scalars", "nonlinearity_gates"):
        for p, name in m[key].items():
            if name not in ("silu", "tanh", "abs", "ssp", "sigmoid"):
                raise ValueError(f"config: model.{key}.{p} must be one of silu, tanh, abs, ssp, sigmoid; "
                                 f"got {name!r}")
    aan = m["avg_num_neighbors"]
    if not (aan is None or aan == "auto" or (isinstance(aan, (int, float)) and not isinstance(aan, bool)
                                            and aan > 0)):
        raise ValueError(f"config: model.avg_num_neighbors must be 'auto', null or a positive number, got {aan!r}")
    for key in ("batch_size", "max_epochs"):
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"config: training.{key} must be a positive integer, got {v!r}")
    for key in ("learning_rate", "energy_weight", "force_weight", "stress_weight", "lr_factor", "min_lr"):
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"config: training.{key} must be a non-negative number, got {v!r}")
    if t["learning_rate"] <= 0:
        raise ValueError(f"config: training.learning_rate must be > 0, got {t['learning_rate']}")
    if t["energy_weight"] == 0 and t["force_weight"] == 0 and t["stress_weight"] == 0:
        raise ValueError("config: all loss weights (energy_weight, force_weight, stress_weight) are zero")
    if t["lr_scheduler"] not in ("plateau", "cosine"):
        raise ValueError(f"config: training.lr_scheduler must be 'plateau' or 'cosine', got {t['lr_scheduler']!r}")
    ema = t["ema_decay"]
    if ema is not None and not (isinstance(ema, (int, float)) and 0 <= ema < 1):
        raise ValueError(f"config: training.ema_decay must be in [0, 1) or null, got {ema!r}")
    if d["format"] not in ("auto", "rmd17", "sgdml", "extxyz", "npz"):
        raise ValueError(f"config: data.format must be auto, rmd17, sgdml, npz or extxyz; got {d['format']!r}")
    return cfg


def load_config(source=None, overrides=None):
    """Load a config from a YAML file path or a dict, apply ``overrides`` (a dict), fill defaults, validate.

    Args:
        source (str or dict or None): path to a YAML file, or a (partial) config dict.
        overrides (dict, optional): applied after ``source``.

    Returns:
        dict: the complete config.

    Raises:
        ValueError: unknown keys, bad values, or a missing file.
    """
    if isinstance(source, (str, os.PathLike)):
        import yaml

        if not os.path.isfile(source):
            raise ValueError(f"config file not found: {source}")
        with open(source, encoding="utf-8") as fh:
            try:
                source = yaml.safe_load(fh) or {}
            except yaml.YAMLError as err:
                raise ValueError(f"config file {source} is not valid YAML: {err}") from None
    cfg = merge_config(DEFAULTS, source)
    if overrides:
        cfg = merge_config(cfg, overrides)
    return _check(cfg)
