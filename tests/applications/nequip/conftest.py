"""Shared helpers for the NequIP model / training / calculator tests: small multi-species molecules, the tiny
periodic copper set, a small float64 model and a checkpoint written without training."""
import os

import numpy as np
import pytest
import mindspore as ms

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = os.path.join(REPO, "applications", "nequip", "datasets", "tiny_cu_morse.npz")

def _library_ready():
    from mindchemistry_e3 import nn as e3nn, o3

    return all(hasattr(o3, n) for n in ("Linear", "TensorProduct", "FullyConnectedTensorProduct",
                                        "SphericalHarmonics")) and all(hasattr(e3nn, n) for n in ("Gate", "FullyConnectedNet"))


#: Skip marker for tests that build the NequIP model while library pieces it needs are still missing.
needs_model = pytest.mark.skipif(not _library_ready(), reason="mindchemistry_e3 lacks a piece NequIP needs")

#: A small model: cheap to compile, still every piece of NequIP (l_max 1, both parities, 2 layers).
SMALL_MODEL = {"r_max": 3.0, "l_max": 1, "parity": True, "num_layers": 2, "num_features": 4, "num_basis": 8,
               "radial_mlp_layers": 1, "radial_mlp_neurons": 8}


def molecules(n_frames=2, seed=0, numbers=(1, 6, 8, 1, 6, 1)):
    """Random 'molecules' of H, C, O (every atom has neighbours within 3 Å) with random labels."""
    from applications.nequip.data import AtomicData

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        pos = rng.normal(size=(len(numbers), 3)) * 0.9
        frames.append(AtomicData(pos=pos, atomic_numbers=list(numbers), energy=float(rng.normal()),
                                 forces=rng.normal(size=(len(numbers), 3))))
    return frames


def tiny_frames(n=None):
    """Frames of the shipped tiny periodic copper set (eV, Å, with stress)."""
    from applications.nequip.data import read_dataset

    frames = read_dataset(TINY)
    return frames if n is None else frames[:n]


def small_net(num_types=3, dtype=ms.float64, **overrides):
    """A small NequIP with non-trivial scales and shifts."""
    from applications.nequip.model import NequIP

    kw = dict(SMALL_MODEL)
    kw.update(overrides)
    scale = np.linspace(0.5, 2.0, num_types)
    shift = -np.arange(1, num_types + 1, dtype=np.float64)
    return NequIP(num_types, avg_num_neighbors=4.0, per_species_scale=scale, per_species_shift=shift, dtype=dtype,
                  **kw)


def write_checkpoint(path, model_cfg=None, train_file=TINY, dtype="float32", seed=0):
    """A checkpoint of an untrained model (config + statistics of ``train_file``), as training would write it."""
    from applications.nequip.checkpoint import save_checkpoint
    from applications.nequip.config import load_config
    from applications.nequip.data import build_neighbors
    from applications.nequip.model.build import build_model, fit_statistics, species_mapper
    from applications.nequip.train import read_frames

    cfg = load_config({"dtype": dtype, "model": dict(model_cfg or SMALL_MODEL),
                       "data": {"train_file": train_file}})
    frames = build_neighbors(read_frames(train_file, cfg["data"]), cfg["model"]["r_max"])
    mapper = species_mapper(cfg["model"], frames)
    stats = fit_statistics(cfg["model"], frames, mapper)
    ms.set_seed(seed)
    net, _ = build_model(cfg["model"], stats, dtype)
    arrays = {"model/" + name: p.asnumpy().copy() for name, p in net.parameters_and_names()}
    save_checkpoint(path, arrays, {"config": cfg, "stats": stats})
    return str(path)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A float32 checkpoint of an untrained small model for the tiny copper set (no training needed)."""
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")
