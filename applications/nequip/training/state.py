"""The state of a training run and its checkpoints: what goes into ``last.ckpt`` / ``best.ckpt``, how a run
resumes from one (exactly where it stopped, inside an epoch too), and which checkpoint ``--resume`` reads.

In memory a checkpoint is ``(arrays, meta)`` (:mod:`applications.nequip.checkpoint`): ``model/<name>`` trained
weights, ``ema/<name>`` their moving average, ``train/<name>`` every other parameter of the train step (optimizer
moments, step counters, learning rate, the device-side metric sums of an unfinished epoch); ``meta`` holds the
config, the data statistics and the trainer's counters, schedule and history.
"""
import math
import os

import numpy as np

from applications.nequip.checkpoint import load_checkpoint, other_checkpoint_hint

__all__ = ["RunPaths", "TrainerState", "checkpoint_arrays", "restore_arrays", "eval_weights", "resume_source"]


class RunPaths:
    """The files of a run folder."""

    def __init__(self, run_dir):
        self.run_dir = os.path.abspath(run_dir)
        self.last = os.path.join(self.run_dir, "last.ckpt")
        self.best = os.path.join(self.run_dir, "best.ckpt")
        self.config = os.path.join(self.run_dir, "config.yaml")
        self.log = os.path.join(self.run_dir, "log.txt")
        self.csv = os.path.join(self.run_dir, "metrics.csv")
        self.curves = os.path.join(self.run_dir, "loss_curves.png")
        self.parity = os.path.join(self.run_dir, "force_parity.png")
        self.timing = os.path.join(self.run_dir, "timing.json")
        self.final = os.path.join(self.run_dir, "final_metrics.json")


def resume_source(paths, resume):
    """The checkpoint a run starts from: None (a new run), ``last`` or ``best``; with its ``(arrays, meta)``.

    Raises:
        ValueError: a new run over an existing one, a missing checkpoint to resume from, or a corrupt one (with a
            hint to the other checkpoint of the run).
    """
    if not resume:
        if os.path.isfile(paths.last) or os.path.isfile(paths.best):
            raise ValueError(f"{paths.run_dir} holds a run already: pass --resume to continue it, or choose another "
                             "run_name / out_dir")
        return None, None
    which = "last" if resume is True else str(resume)
    if which not in ("last", "best"):
        raise ValueError(f"--resume must be 'last' or 'best', got {resume!r}")
    path = paths.last if which == "last" else paths.best
    if not os.path.isfile(path):
        raise ValueError(f"--resume: no checkpoint {path} to resume from{other_checkpoint_hint(path)}")
    ckpt = load_checkpoint(path)
    if ckpt[1].get("weights_only"):
        raise ValueError(f"--resume: {path} holds weights only (converted with --weights-only); a run resumes from "
                         "a checkpoint with its optimizer state")
    return path, ckpt


def checkpoint_arrays(net, step):
    """``model/``, ``ema/`` and ``train/`` arrays of a network and its train step (see the module docstring)."""
    out = {}
    ema_of = dict(zip(map(id, step.weights), step.ema_arrays())) if step.use_ema else {}
    own = {id(p) for p in net.get_parameters()} | {id(p) for p in step.ema_parameters()}
    for name, p in net.parameters_and_names():
        out["model/" + name] = p.asnumpy().copy()
        if id(p) in ema_of:
            out["ema/" + name] = ema_of[id(p)].copy()
    for p in step.get_parameters():
        if id(p) not in own:
            out["train/" + p.name] = p.asnumpy().copy()
    return out


def _check_shape(array, param, where, name):
    if tuple(array.shape) != tuple(param.shape):
        raise ValueError(f"checkpoint {where}: {name} has shape {tuple(array.shape)}, the model expects "
                         f"{tuple(param.shape)}")


def _set(param, array, where, name):
    import mindspore as ms

    _check_shape(array, param, where, name)
    param.set_data(ms.Tensor(array, param.dtype))


def restore_arrays(net, step, arrays, where):
    """Load :func:`checkpoint_arrays` back into ``net`` and ``step`` (also from the earlier npz format, whose
    ``train/`` entries repeat the weights). Missing metric sums (older checkpoints) restart from zero."""
    names = dict(net.parameters_and_names())
    missing = sorted(n for n in names if "model/" + n not in arrays)
    name_of = {id(p): n for n, p in names.items()}
    if step.use_ema:
        missing += sorted("ema/" + name_of[id(p)] for p in step.weights if "ema/" + name_of[id(p)] not in arrays)
    own = {id(p) for p in net.get_parameters()} | {id(p) for p in step.ema_parameters()}
    rest = [p for p in step.get_parameters() if id(p) not in own]
    missing += sorted("train/" + p.name for p in rest if "train/" + p.name not in arrays
                      and p.name != "metric_sums")
    if missing:
        raise ValueError(f"checkpoint {where} does not match this model: missing {missing[:5]}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    for n, p in names.items():
        _set(p, arrays["model/" + n], where, n)
    if step.use_ema:
        ema = [arrays["ema/" + name_of[id(p)]] for p in step.weights]
        for array, p in zip(ema, step.weights):
            _check_shape(array, p, where, "ema/" + name_of[id(p)])
        step.set_ema_arrays(ema)
    for p in rest:
        if "train/" + p.name in arrays:
            _set(p, arrays["train/" + p.name], where, p.name)
        else:
            _set(p, np.zeros(p.shape), where, p.name)


def eval_weights(arrays, use_ema=True):
    """name -> weights to evaluate: ``ema/<name>`` when present and ``use_ema``, else ``model/<name>``."""
    out = {}
    for key, value in arrays.items():
        if key.startswith("model/"):
            name = key[6:]
            out[name] = arrays["ema/" + name] if use_ema and "ema/" + name in arrays else value
    return out


class TrainerState:
    """The counters, schedule and history of a run (the JSON part of a checkpoint).

    Attributes:
        epoch (int): completed epochs.
        step_in_epoch (int): steps done in the unfinished epoch ``epoch + 1`` (0 at epoch ends).
        num_updates (int): optimizer steps so far (drives the EMA warm-up).
        best_val, best_epoch: the best validation loss and its epoch.
        history (list[dict]): one row per completed epoch (``metrics.csv``).
        elapsed (float): wall seconds of training so far (over all resumes).
        stopped (str or None): why training stopped.
    """

    def __init__(self):
        self.epoch = 0
        self.step_in_epoch = 0
        self.num_updates = 0
        self.best_val = math.inf
        self.best_epoch = 0
        self.history = []
        self.elapsed = 0.0
        self.stopped = None
        self.epoch_elapsed = 0.0      # wall seconds already spent in the unfinished epoch

    def to_meta(self):
        """The JSON-serialisable counters (None for an infinite best loss)."""
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "num_updates": self.num_updates,
                "best_val": self.best_val if math.isfinite(self.best_val) else None, "best_epoch": self.best_epoch,
                "history": self.history, "elapsed": self.elapsed, "stopped": self.stopped,
                "epoch_elapsed": self.epoch_elapsed}

    def load_meta(self, meta):
        """Restore :meth:`to_meta` (checkpoints without ``step_in_epoch`` ended at an epoch)."""
        self.epoch = int(meta["epoch"])
        self.step_in_epoch = int(meta.get("step_in_epoch", 0))
        self.num_updates = int(meta["num_updates"])
        self.best_val = math.inf if meta["best_val"] is None else float(meta["best_val"])
        self.best_epoch = int(meta["best_epoch"])
        self.history = list(meta["history"])
        self.elapsed = float(meta["elapsed"])
        self.epoch_elapsed = float(meta.get("epoch_elapsed", 0.0))
        self.stopped = None

    def truncate_history(self):
        """Drop history rows after ``epoch`` (resuming from ``best.ckpt`` of a run that went on)."""
        self.history = [row for row in self.history if row["epoch"] <= self.epoch]
