"""Shared helpers for the NequIP model / training / calculator tests: small multi-species molecules, the tiny
periodic copper set, a small float64 model, a checkpoint written without training, one tiny trained run per
session, strict JSON reading and a way to run the commands in a fresh process."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import mindspore as ms

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = os.path.join(REPO, "applications", "nequip", "datasets", "tiny_cu_morse.npz")
TINY_YAML = os.path.join(REPO, "applications", "nequip", "configs", "tiny.yaml")
LEGACY_CKPT = os.path.join(REPO, "tests", "data", "nequip_legacy_tiny.npz")  # earlier format (npz)

# the commands run in this process must not write the user's compile cache (tests that test it name a folder)
os.environ.setdefault("NEQUIP_COMPILE_CACHE", "off")

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


def tiny_overrides(out_dir, run_name="tiny", **training):
    """``--set``-style overrides of ``tiny.yaml`` for a short run (8 training / 4 validation frames, batches of
    4: two steps per epoch)."""
    train = {"max_epochs": 3, "batch_size": 4, "progress": False, "plot_every": 0}
    train.update(training)
    return {"out_dir": str(out_dir), "run_name": run_name, "data": {"n_train": 8, "n_val": 4}, "training": train}


def tiny_cfg(out_dir, run_name="tiny", **training):
    """The config of :func:`tiny_overrides`."""
    from applications.nequip.config import load_config

    return load_config(TINY_YAML, tiny_overrides(out_dir, run_name, **training))


def set_args(overrides, prefix=""):
    """``--set`` arguments for a nested overrides dict."""
    out = []
    for key, value in overrides.items():
        if isinstance(value, dict):
            out += set_args(value, f"{prefix}{key}.")
        else:
            out += ["--set", f"{prefix}{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return out


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """A compile cache folder shared by every test process of this pytest run (xdist workers included): the
    processes that compile the same graphs (the tiny config's) fill it once and load it afterwards."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / "nequip-compile-cache"
    path.mkdir(exist_ok=True)
    return str(path)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, shared_cache):
    """One tiny training run per session (3 epochs, uninterrupted): ``(trainer, summary)``; its folder is
    ``trainer.run_dir``. Its graphs go through the shared compile cache (the first cached plan of the process)."""
    from applications.nequip.training import Trainer

    ms.set_context(mode=ms.GRAPH_MODE)
    trainer = Trainer(tiny_cfg(tmp_path_factory.mktemp("runs"), "full"), log=lambda line: None,
                      compile_cache=shared_cache)
    summary = trainer.train()
    return trainer, summary


def _no_constants(name):
    raise ValueError(f"not strict JSON: {name}")


def strict_json(text_or_path):
    """Parse JSON refusing NaN / Infinity (Python's json module accepts them by default)."""
    text = text_or_path
    if os.path.exists(str(text_or_path)):
        with open(text_or_path, encoding="utf-8") as fh:
            text = fh.read()
    return json.loads(text, parse_constant=_no_constants)


def run_command(args, cwd=None, env=None, timeout=600):
    """Run ``python -m applications.nequip.cli ARGS`` in a fresh process (the repository importable, one kernel
    thread, no compile cache unless ``env`` names one); returns the CompletedProcess (text)."""
    full = dict(os.environ)
    full.update({"PYTHONPATH": REPO + os.pathsep + full.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1",
                 "GLOG_v": "3", "NEQUIP_COMPILE_CACHE": "off"})
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "applications.nequip.cli", *args], cwd=cwd or REPO, env=full,
                          capture_output=True, text=True, timeout=timeout, check=False)
