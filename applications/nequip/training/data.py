"""The data of a training run, loaded and checked before anything is compiled or written: frames (eV, Å) of the
training and test files, the seeded split, neighbour lists, the species map and statistics, and the padded batch
loaders; plus the loss weights the data can support (a set without forces trains on energies only).
"""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from applications.nequip.data.split import count_or_fraction

__all__ = ["read_frames", "buckets_of", "RunData", "prepare_data", "make_loaders"]


def read_frames(path, data_cfg):
    """Read a dataset file with the units and format of the ``data`` config section (eV, Å frames).

    Raises:
        ValueError: no path, a missing or unreadable file, bad shapes, non-finite values, unknown units (the file
            and frame named).
    """
    from applications.nequip.data import read_dataset

    if path is None:
        raise ValueError("config: data.train_file is not set")
    kwargs = {}
    if data_cfg.get("energy_unit") is not None:
        kwargs["energy_unit"] = data_cfg["energy_unit"]
    if data_cfg.get("length_unit") is not None:
        kwargs["length_unit"] = data_cfg["length_unit"]
    fmt = None if data_cfg.get("format", "auto") == "auto" else data_cfg["format"]
    try:
        return read_dataset(path, fmt, **kwargs)
    except FileNotFoundError as err:
        raise ValueError(str(err)) from None


def buckets_of(data_cfg):
    """``(atom_buckets, edge_buckets)`` of ``data.buckets`` for :class:`~applications.nequip.data.BatchLoader`."""
    b = data_cfg.get("buckets")
    if b is None:
        return None, None
    if b == "max":
        return "max", "max"
    if isinstance(b, dict) and set(b) <= {"atoms", "edges"}:
        return b.get("atoms"), b.get("edges")
    raise ValueError(f"config: data.buckets must be null, 'max' or {{atoms: [...], edges: [...]}}, got {b!r}")


@dataclass
class RunData:
    """Everything a training run needs from its datasets."""

    train_frames: list
    val_frames: list
    test_frames: list
    mapper: object
    stats: dict
    has_stress: bool
    notices: list = field(default_factory=list)
    weights: Optional[dict] = None     # the loss weights the data supports (changed ones are in ``notices``)


def _supported_weights(t, frames, what):
    """Loss weights the labels of ``frames`` support, with a notice for every weight set to zero."""
    has = {"energy": any(f.energy is not None for f in frames), "forces": any(f.forces is not None for f in frames),
           "stress": any(f.stress is not None for f in frames)}
    weights = {"energy_weight": t["energy_weight"], "force_weight": t["force_weight"],
               "stress_weight": t["stress_weight"]}
    notices = []
    for key, label in (("energy_weight", "energy"), ("force_weight", "forces")):
        if weights[key] > 0 and not has[label]:
            weights[key] = 0.0
            notices.append(f"{what} has no {label}: training without the {label} term "
                           f"(training.{key} {t[key]} -> 0)")
    if weights["stress_weight"] > 0 and not has["stress"]:
        raise ValueError(f"training.stress_weight > 0 but {what} has no stress")
    if not any(w > 0 for w in weights.values()):
        raise ValueError(f"{what} has no labels the loss can use (energy, forces or stress)")
    return weights, notices


def prepare_data(cfg, stats=None, mapper=None, log=None):
    """Read, check and split the datasets of ``cfg``; build neighbour lists, species map and statistics.

    Args:
        cfg (dict): the run config.
        stats (dict, optional): statistics of a checkpoint being resumed (then not refitted).
        mapper (TypeMapper, optional): its species map.
        log (callable, optional): where notices go.

    Raises:
        ValueError: anything wrong with the data (file and frame named).
    """
    from applications.nequip.data import TypeMapper, build_neighbors, train_val_test_split
    from applications.nequip.model.build import fit_statistics, species_mapper

    d, m, t = cfg["data"], cfg["model"], cfg["training"]
    frames = read_frames(d["train_file"], d)
    n_val = count_or_fraction(d["n_val"], len(frames), "config: data.n_val") or 0
    n_train = count_or_fraction(d["n_train"], len(frames), "config: data.n_train")
    if n_train is None:
        n_train = len(frames) - n_val
    if n_train < 1:
        raise ValueError(f"data: no training frames (n_train={n_train}, n_val={n_val}, {len(frames)} frames in "
                         f"{d['train_file']})")
    idx_train, idx_val, _ = train_val_test_split(len(frames), n_train, n_val, 0, seed=d["split_seed"])
    train = build_neighbors([frames[i] for i in idx_train], m["r_max"])
    val = build_neighbors([frames[i] for i in idx_val], m["r_max"]) if len(idx_val) else []
    test = build_neighbors(read_frames(d["test_file"], d), m["r_max"], on_isolated="ignore") if d["test_file"] \
        else []
    weights, notices = _supported_weights(t, train, f"the training set ({d['train_file']})")
    if stats is None:
        mapper = species_mapper(m, train)
        stats = fit_statistics(m, train, mapper)
    elif mapper is None:
        mapper = TypeMapper(stats["species"])
    mapper.check(val)
    for i, f in enumerate(test):
        mapper.types(f.atomic_numbers, where=f"in frame {i} of {d['test_file']}")
    for note in notices:
        if log is not None:
            log("notice: " + note)
    return RunData(train, val, test, mapper, stats, any(f.stress is not None for f in train), notices, weights)


def make_loaders(cfg, data, np_dtype):
    """``(train, validation or None, test or None)`` padded batch loaders of a run's :class:`RunData`."""
    from applications.nequip.data import BatchLoader

    t = cfg["training"]
    atom_b, edge_b = buckets_of(cfg["data"])

    def loader(frames, shuffle):
        if not frames:
            return None
        return BatchLoader(frames, data.mapper, t["batch_size"], shuffle=shuffle, seed=cfg["seed"],
                           atom_buckets=atom_b, edge_buckets=edge_b, dtype=np_dtype)

    return loader(data.train_frames, t["shuffle"]), loader(data.val_frames, False), loader(data.test_frames, False)
