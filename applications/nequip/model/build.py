"""Build a NequIP model from the ``model`` section of a run config and statistics of the training data.

The statistics (average number of neighbours, per-species energy shifts and scales) are computed once from the
training frames (:func:`fit_statistics`), stored in every checkpoint and passed back to :func:`build_model`, so a
model is rebuilt from a checkpoint alone, bit for bit.
"""
import numpy as np
import mindspore as ms

from applications.nequip.data import TypeMapper, average_num_neighbors, force_rms, per_species_energy_shift

from .forces import EnergyForceModel
from .nequip import NequIP

__all__ = ["fit_statistics", "build_network", "build_model", "species_mapper", "MS_DTYPES", "MS_COMPUTE_DTYPES"]

MS_DTYPES = {"float32": ms.float32, "float64": ms.float64}
MS_COMPUTE_DTYPES = {None: None, "float16": ms.float16, "bfloat16": ms.bfloat16}


def species_mapper(model_cfg, frames):
    """The species map: ``model.species`` from the config, else the species present in ``frames``.

    >>> species_mapper({"species": ["H", "O"]}, []).symbols
    ['H', 'O']
    """
    if model_cfg.get("species"):
        mapper = TypeMapper(model_cfg["species"])
        mapper.check(frames)
        return mapper
    if not frames:
        raise ValueError("species_mapper: no training frames and no model.species in the config")
    return TypeMapper.from_frames(frames)


def _per_species(value, mapper, what):
    """A number or {symbol or Z: number} -> float64 [num_types]."""
    if isinstance(value, dict):
        out = np.full(mapper.num_types, np.nan)
        for key, v in value.items():
            z = TypeMapper([key]).species[0]
            if z not in mapper.species:
                raise ValueError(f"model.{what}: species {key!r} is not one of the model's {mapper.symbols}")
            out[mapper.species.index(z)] = float(v)
        if np.isnan(out).any():
            missing = [s for s, v in zip(mapper.symbols, out) if np.isnan(v)]
            raise ValueError(f"model.{what}: no value for species {missing}")
        return out
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.full(mapper.num_types, float(value))
    raise ValueError(f"model.{what} must be 'auto', a number or a mapping species -> number; got {value!r}")


def fit_statistics(model_cfg, frames, mapper):
    """Statistics of the training frames (with neighbour lists) that the model needs.

    Returns:
        dict with ``species`` (atomic numbers), ``avg_num_neighbors`` (float or None),
        ``per_species_shift`` and ``per_species_scale`` (lists of floats, eV).

    Examples:
        >>> from applications.nequip.data import AtomicData, build_neighbors
        >>> fr = build_neighbors([AtomicData(pos=[[0, 0, 0], [0, 0, 1.0]], atomic_numbers=[1, 1], energy=-2.0,
        ...                                  forces=[[0, 0, 1.0], [0, 0, -1.0]])], 2.0)
        >>> st = fit_statistics({"avg_num_neighbors": "auto", "per_species_shift": "auto",
        ...                      "per_species_scale": "auto"}, fr, TypeMapper([1]))
        >>> st["avg_num_neighbors"], st["per_species_shift"], round(st["per_species_scale"][0], 4)
        (1.0, [-1.0], 0.5774)
    """
    aan = model_cfg["avg_num_neighbors"]
    if aan == "auto":
        aan = average_num_neighbors(frames)
    elif aan is not None:
        aan = float(aan)
    shift = model_cfg["per_species_shift"]
    if shift == "auto":
        shift = per_species_energy_shift(frames, mapper)
    else:
        shift = _per_species(shift, mapper, "per_species_shift")
    scale = model_cfg["per_species_scale"]
    if scale == "auto":
        has_forces = any(f.forces is not None for f in frames)
        scale = np.full(mapper.num_types, force_rms(frames) if has_forces else 1.0)
        if not np.all(scale > 0):
            scale = np.ones(mapper.num_types)
    else:
        scale = _per_species(scale, mapper, "per_species_scale")
    return {"species": [int(z) for z in mapper.species], "avg_num_neighbors": aan,
            "per_species_shift": [float(x) for x in shift], "per_species_scale": [float(x) for x in scale]}


def build_network(model_cfg, stats, dtype="float32"):
    """The energy network (:class:`NequIP`) of a config's ``model`` section and data statistics, unwrapped: its
    parameter names are those of a checkpoint, so
    ``mindspore.load_param_into_net(build_network(...), mindspore.load_checkpoint(path))`` loads a checkpoint's
    evaluation weights.

    Examples:
        >>> from applications.nequip.config import load_config
        >>> cfg = load_config({"model": {"num_layers": 1, "num_features": 4}})["model"]
        >>> net = build_network(cfg, {"species": [1, 8], "avg_num_neighbors": 3.0,
        ...                           "per_species_shift": [0.0, 0.0], "per_species_scale": [1.0, 1.0]})
        >>> net.num_types, net.per_species_scale.name
        (2, 'per_species_scale')
    """
    if dtype not in MS_DTYPES:
        raise ValueError(f"build_model: dtype must be one of {sorted(MS_DTYPES)}, got {dtype!r}")
    m = model_cfg
    compute = m.get("compute_dtype")  # absent from the configs of older checkpoints
    if compute not in MS_COMPUTE_DTYPES:
        raise ValueError(f"build_model: model.compute_dtype must be null, float16 or bfloat16, got {compute!r}")
    return NequIP(
        num_types=len(stats["species"]), r_max=m["r_max"], l_max=m["l_max"], parity=m["parity"],
        num_layers=m["num_layers"], num_features=m["num_features"], num_basis=m["num_basis"],
        trainable_bessel=m["trainable_bessel"], cutoff_p=m["cutoff_p"], radial_mlp_layers=m["radial_mlp_layers"],
        radial_mlp_neurons=m["radial_mlp_neurons"], resnet=m["resnet"],
        nonlinearity_scalars=m["nonlinearity_scalars"], nonlinearity_gates=m["nonlinearity_gates"],
        avg_num_neighbors=stats["avg_num_neighbors"], per_species_scale=stats["per_species_scale"],
        per_species_shift=stats["per_species_shift"], scale_shift_trainable=m["scale_shift_trainable"],
        dtype=MS_DTYPES[dtype], compute_dtype=MS_COMPUTE_DTYPES[compute])


def build_model(model_cfg, stats, dtype="float32", compute_stress=False):
    """The energy model (:class:`NequIP`) and its energy/force wrapper (:class:`EnergyForceModel`).

    Args:
        model_cfg (dict): the ``model`` section of the config.
        stats (dict): from :func:`fit_statistics` (or a checkpoint).
        dtype (str): ``"float32"`` or ``"float64"``.
        compute_stress (bool): the wrapper also returns the stress.

    Returns:
        (NequIP, EnergyForceModel)

    Examples:
        >>> from applications.nequip.config import load_config
        >>> cfg = load_config({"model": {"num_layers": 1, "num_features": 4}})["model"]
        >>> net, wrapped = build_model(cfg, {"species": [1, 8], "avg_num_neighbors": 3.0,
        ...                                  "per_species_shift": [0.0, 0.0], "per_species_scale": [1.0, 1.0]})
        >>> net.num_types
        2
    """
    net = build_network(model_cfg, stats, dtype)
    return net, EnergyForceModel(net, compute_stress=compute_stress)
