"""Train a NequIP potential on energies and forces (and stress), in MindSpore graph mode.

Usage (from the repository root)::

    python -m applications.nequip.train --config applications/nequip/configs/aspirin.yaml
    python -m applications.nequip.train --config applications/nequip/configs/aspirin.yaml --resume
    python -m applications.nequip.train --config ... --set training.max_epochs=5 --set model.l_max=2

What a run does:

* reads ``data.train_file`` (rMD17 / sGDML / npz / extxyz, converted to eV and Å), splits it into training and
  validation frames (seeded), builds the neighbour lists and pads batches to fixed buckets, so the train step
  compiles once per bucket;
* fits the data statistics (average number of neighbours, per-species energy shift, force-RMS scale) on the
  training frames and builds the model;
* trains with one compiled ``nn.Cell`` per step (forward, forces = -dE/dr, loss, second-order backward,
  Adam/AMSGrad, EMA of the weights), evaluates the EMA weights on the validation set after every epoch,
  reduces the learning rate on plateaus and stops early;
* writes to ``<out_dir>/<run_name>/``: ``last.ckpt`` every epoch and ``best.ckpt`` on improvement (atomic
  writes; ``--resume`` continues exactly where ``last.ckpt`` stopped), ``metrics.csv`` (meV, meV/Å),
  ``loss_curves.png``, ``force_parity.png``, ``timing.json``, ``final_metrics.json`` and ``log.txt``.
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np

from applications.nequip.checkpoint import load_checkpoint, save_checkpoint
from applications.nequip.config import load_config, parse_set
from applications.nequip.data.split import count_or_fraction

__all__ = ["Trainer", "batch_inputs", "main", "Progress", "ReduceLROnPlateau", "CosineAnnealing"]

MEV = 1000.0
CSV_COLUMNS = ("epoch", "lr", "wall_s", "train_loss", "train_e_mae_meV", "train_e_per_atom_mae_meV",
               "train_f_mae_meV_A", "train_f_rmse_meV_A", "val_loss", "val_e_mae_meV", "val_e_rmse_meV",
               "val_e_per_atom_mae_meV", "val_f_mae_meV_A", "val_f_rmse_meV_A", "val_s_mae_meV_A3")


def _ms():
    import mindspore as ms

    return ms


def batch_inputs(batch, dtype=None, labels=True):
    """The Tensor inputs of the model (and loss) for a padded ``applications.nequip.data.Batch``.

    Returns a tuple in the order of ``MODEL_INPUTS`` (+ ``LABEL_INPUTS`` when ``labels``).
    """
    ms = _ms()
    from applications.nequip.model import LABEL_INPUTS, MODEL_INPUTS

    dtype = ms.float32 if dtype is None else dtype
    t = batch.to_tensors(dtype)
    names = MODEL_INPUTS + (LABEL_INPUTS if labels else ())
    return tuple(t[k] for k in names)


class Progress:
    """A dependency-free progress bar on a stream (redrawn in place on a terminal, one line otherwise).

    >>> import io
    >>> s = io.StringIO(); p = Progress(2, "epoch 1", stream=s)
    >>> p.update(loss=1.0); p.update(loss=0.5); p.close()
    >>> "2/2" in s.getvalue()
    True
    """

    def __init__(self, total, desc="", enabled=True, stream=None, width=24):
        self.total, self.desc, self.enabled, self.width = int(total), desc, enabled, width
        self.stream = sys.stderr if stream is None else stream
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.n, self.t0, self.postfix, self._last = 0, time.perf_counter(), {}, 0.0

    def _line(self):
        frac = self.n / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.t0
        rate = self.n / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.n) / rate if rate > 0 else 0.0
        post = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.postfix.items())
        return (f"{self.desc} [{'#' * filled}{'.' * (self.width - filled)}] {self.n}/{self.total} "
                f"[{elapsed:.0f}s<{eta:.0f}s, {rate:.2f} it/s] {post}")

    def update(self, n=1, **postfix):
        """Advance by ``n`` steps and set the values shown after the bar."""
        self.n += n
        self.postfix.update(postfix)
        now = time.perf_counter()
        if self.enabled and self.tty and (now - self._last > 0.1 or self.n == self.total):
            self.stream.write("\r" + self._line())
            self.stream.flush()
            self._last = now

    def close(self):
        """Finish the bar (a newline on a terminal; the final line otherwise)."""
        if not self.enabled:
            return
        self.stream.write(("\r" + self._line() + "\n") if self.tty else (self._line() + "\n"))
        self.stream.flush()


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` after more than ``patience`` epochs without a relative
    improvement of ``threshold`` of the monitored value (PyTorch's ``ReduceLROnPlateau``, mode ``min``).

    >>> s = ReduceLROnPlateau(1.0, factor=0.5, patience=1)
    >>> [s.step(v) for v in (3.0, 3.0, 3.0, 2.0)]
    [1.0, 1.0, 0.5, 0.5]
    """

    #: the learning rate follows the validation loss: its changes are logged, and a rate below
    #: ``training.early_stopping_min_lr`` means training has converged
    adaptive = True

    def __init__(self, lr, factor=0.5, patience=10, threshold=1e-4, min_lr=0.0):
        self.lr, self.factor, self.patience = float(lr), float(factor), int(patience)
        self.threshold, self.min_lr = float(threshold), float(min_lr)
        self.best, self.num_bad = math.inf, 0

    def step(self, value):
        """Record this epoch's value; returns the (possibly reduced) learning rate."""
        if value < self.best * (1 - self.threshold):
            self.best, self.num_bad = float(value), 0
        else:
            self.num_bad += 1
        if self.num_bad > self.patience:
            self.lr = max(self.lr * self.factor, self.min_lr)
            self.num_bad = 0
        return self.lr

    def state(self):
        """JSON-serialisable state."""
        return {"lr": self.lr, "best": self.best if math.isfinite(self.best) else None, "num_bad": self.num_bad}

    def load(self, state):
        """Restore :meth:`state`."""
        self.lr = float(state["lr"])
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.num_bad = int(state["num_bad"])


class CosineAnnealing:
    """Cosine decay of the learning rate from ``lr`` to ``min_lr`` over ``num_epochs`` epochs (PyTorch's
    ``CosineAnnealingLR`` with ``T_max = num_epochs``, stepped once per epoch; ``step`` ignores its argument).

    >>> s = CosineAnnealing(1.0, num_epochs=4, min_lr=0.0)
    >>> [round(s.step(None), 3) for _ in range(4)]
    [0.854, 0.5, 0.146, 0.0]
    """

    adaptive = False  #: a fixed schedule: nothing to log, a low rate at the end is planned, not convergence

    def __init__(self, lr, num_epochs, min_lr=0.0):
        self.lr0, self.num_epochs, self.min_lr = float(lr), int(num_epochs), float(min_lr)
        self.epoch = 0
        self.lr = self.lr0

    def step(self, value=None):
        """Advance one epoch; returns the learning rate of the next one."""
        del value
        self.epoch += 1
        frac = min(self.epoch, self.num_epochs) / self.num_epochs
        self.lr = self.min_lr + 0.5 * (self.lr0 - self.min_lr) * (1.0 + math.cos(math.pi * frac))
        return self.lr

    def state(self):
        """JSON-serialisable state."""
        return {"lr": self.lr, "epoch": self.epoch}

    def load(self, state):
        """Restore :meth:`state`."""
        self.lr, self.epoch = float(state["lr"]), int(state["epoch"])


def make_scheduler(t):
    """The learning-rate scheduler named by ``training.lr_scheduler`` (``plateau`` or ``cosine``)."""
    if t["lr_scheduler"] == "cosine":
        return CosineAnnealing(t["learning_rate"], t["max_epochs"], t["min_lr"])
    return ReduceLROnPlateau(t["learning_rate"], t["lr_factor"], t["lr_patience"], t["lr_threshold"], t["min_lr"])


def read_frames(path, data_cfg):
    """Read a dataset file with the units and format of the ``data`` config section (eV, Å frames)."""
    from applications.nequip.data import read_dataset

    if path is None:
        raise ValueError("config: data.train_file is not set")
    kwargs = {}
    if data_cfg.get("energy_unit") is not None:
        kwargs["energy_unit"] = data_cfg["energy_unit"]
    if data_cfg.get("length_unit") is not None:
        kwargs["length_unit"] = data_cfg["length_unit"]
    fmt = None if data_cfg.get("format", "auto") == "auto" else data_cfg["format"]
    return read_dataset(path, fmt, **kwargs)


def _buckets(data_cfg):
    b = data_cfg.get("buckets")
    if b is None:
        return None, None
    if b == "max":
        return "max", "max"
    if isinstance(b, dict) and set(b) <= {"atoms", "edges"}:
        return b.get("atoms"), b.get("edges")
    raise ValueError(f"config: data.buckets must be null, 'max' or {{atoms: [...], edges: [...]}}, got {b!r}")


def error_sums(pred_e, pred_f, batch, pred_s=None):
    """float64 error sums of one batch, named as ``METRIC_NAMES`` (numpy; padding excluded)."""
    em = batch.energy_mask.astype(np.float64)
    de = (np.asarray(pred_e, np.float64) - batch.energy) * em
    de_pa = de / np.maximum(batch.n_atoms, 1)
    fm = batch.forces_mask.astype(np.float64)
    df = (np.asarray(pred_f, np.float64) - batch.forces) * fm
    out = {"e_abs": np.abs(de).sum(), "e_sq": (de ** 2).sum(), "e_pa_abs": np.abs(de_pa).sum(),
           "e_pa_sq": (de_pa ** 2).sum(), "n_e": em.sum(), "f_abs": np.abs(df).sum(), "f_sq": (df ** 2).sum(),
           "n_f": 3 * fm.sum(), "s_abs": 0.0, "s_sq": 0.0, "n_s": 0.0}
    if pred_s is not None:
        sm = batch.stress_mask.astype(np.float64)[:, None, None]
        ds = (np.asarray(pred_s, np.float64) - batch.stress) * sm
        out.update(s_abs=np.abs(ds).sum(), s_sq=(ds ** 2).sum(), n_s=9 * sm.sum())
    return out


def summarize(sums, weights=None):
    """MAE / RMSE (eV units) and the loss from accumulated :func:`error_sums`."""
    def safe(a, b):
        return a / b if b > 0 else float("nan")
    out = {"e_mae": safe(sums["e_abs"], sums["n_e"]), "e_rmse": math.sqrt(safe(sums["e_sq"], sums["n_e"])),
           "e_pa_mae": safe(sums["e_pa_abs"], sums["n_e"]),
           "e_pa_rmse": math.sqrt(safe(sums["e_pa_sq"], sums["n_e"])),
           "f_mae": safe(sums["f_abs"], sums["n_f"]), "f_rmse": math.sqrt(safe(sums["f_sq"], sums["n_f"])),
           "s_mae": safe(sums["s_abs"], sums["n_s"]), "s_rmse": math.sqrt(safe(sums["s_sq"], sums["n_s"]))}
    if weights is not None:
        we, wf, ws = weights
        loss = 0.0
        if we and sums["n_e"] > 0:
            loss += we * sums["e_pa_sq"] / sums["n_e"]
        if wf and sums["n_f"] > 0:
            loss += wf * sums["f_sq"] / sums["n_f"]
        if ws and sums["n_s"] > 0:
            loss += ws * sums["s_sq"] / sums["n_s"]
        out["loss"] = loss
    return out


def _add(acc, sums):
    for k, v in sums.items():
        acc[k] = acc.get(k, 0.0) + float(v)
    return acc


class Trainer:
    """A NequIP training run: data, model, compiled train step, validation, checkpoints, logs and plots.

    Args:
        cfg (dict): a complete config (:func:`applications.nequip.config.load_config`).
        resume (bool): continue from ``<run_dir>/last.ckpt`` (which must exist). Without it, an existing
            ``last.ckpt`` is an error, so a run is never overwritten by accident.
        run_dir (str, optional): default ``<out_dir>/<run_name>``.
        log (callable, optional): where messages go (default: print, and ``log.txt``).
        distributed (optional): ``applications.nequip.distributed.DataParallel`` under msrun (shards the batches,
            averages the gradients in the train step, reduces the metrics; only rank 0 writes files); default
            ``SingleProcess()``.

    Examples:
        >>> from applications.nequip.config import load_config
        >>> cfg = load_config("applications/nequip/configs/tiny.yaml")   # doctest: +SKIP
        >>> Trainer(cfg).train()["best_val_loss"] > 0                      # doctest: +SKIP
        True
    """

    def __init__(self, cfg, resume=False, run_dir=None, log=None, distributed=None):
        ms = _ms()
        from applications.nequip.distributed import SingleProcess

        self.distributed = distributed if distributed is not None else SingleProcess()
        self.distributed.check(cfg)
        from mindspore import nn

        from applications.nequip.data import BatchLoader, TypeMapper, build_neighbors
        from applications.nequip.model import LossNet, TrainStep
        from applications.nequip.model.build import MS_DTYPES, build_model, fit_statistics, species_mapper

        self.cfg = cfg
        self.run_dir = run_dir or os.path.join(cfg["out_dir"], cfg["run_name"])
        self.last_path = os.path.join(self.run_dir, "last.ckpt")
        self.best_path = os.path.join(self.run_dir, "best.ckpt")
        if resume and not os.path.isfile(self.last_path):
            raise ValueError(f"--resume: no checkpoint {self.last_path} to resume from")
        if not resume and os.path.isfile(self.last_path):
            raise ValueError(f"{self.last_path} exists: pass --resume to continue that run, or choose another "
                             "run_name / out_dir")
        os.makedirs(self.run_dir, exist_ok=True)
        self._log_file = os.path.join(self.run_dir, "log.txt")
        self._log = log
        ms.set_context(mode=ms.GRAPH_MODE)
        self.dtype_name = cfg["dtype"]
        self.dtype = MS_DTYPES[self.dtype_name]
        self.np_dtype = np.float64 if self.dtype_name == "float64" else np.float32
        d, m, t = cfg["data"], cfg["model"], cfg["training"]

        ckpt = None
        if resume:
            ckpt = load_checkpoint(self.last_path)
            saved = ckpt[1]["config"]
            if saved["model"] != m or saved["dtype"] != cfg["dtype"]:
                raise ValueError(f"--resume: the model section (or dtype) of the config differs from the one in "
                                 f"{self.last_path}; resume with the same model")

        # data
        t0 = time.perf_counter()
        frames = read_frames(d["train_file"], d)
        n_val = count_or_fraction(d["n_val"], len(frames), "config: data.n_val") or 0
        n_train = count_or_fraction(d["n_train"], len(frames), "config: data.n_train")
        if n_train is None:
            n_train = len(frames) - n_val
        if n_train < 1:
            raise ValueError(f"data: no training frames (n_train={n_train}, n_val={n_val}, {len(frames)} frames)")
        from applications.nequip.data import train_val_test_split

        idx_train, idx_val, _ = train_val_test_split(len(frames), n_train, n_val, 0, seed=d["split_seed"])
        self.train_frames = build_neighbors([frames[i] for i in idx_train], m["r_max"])
        self.val_frames = build_neighbors([frames[i] for i in idx_val], m["r_max"]) if len(idx_val) else []
        if ckpt is not None:
            self.stats = ckpt[1]["stats"]
            self.mapper = TypeMapper(self.stats["species"])
        else:
            self.mapper = species_mapper(m, self.train_frames)
            self.stats = fit_statistics(m, self.train_frames, self.mapper)
        self.mapper.check(self.val_frames)
        atom_b, edge_b = _buckets(d)
        self.train_loader = self.distributed.shard(BatchLoader(
            self.train_frames, self.mapper, t["batch_size"], shuffle=t["shuffle"], seed=cfg["seed"],
            atom_buckets=atom_b, edge_buckets=edge_b, dtype=self.np_dtype))
        self.val_loader = (BatchLoader(self.val_frames, self.mapper, t["batch_size"], shuffle=False,
                                       atom_buckets=atom_b, edge_buckets=edge_b, dtype=self.np_dtype)
                           if self.val_frames else None)
        self.has_stress = any(f.stress is not None for f in self.train_frames)
        use_stress = t["stress_weight"] > 0
        if use_stress and not self.has_stress:
            raise ValueError("training.stress_weight > 0 but the training frames have no stress")
        data_s = time.perf_counter() - t0

        # model, loss, optimizer, compiled step
        np.random.seed(cfg["seed"])
        ms.set_seed(cfg["seed"])
        self.net, self.model = build_model(m, self.stats, self.dtype_name, compute_stress=use_stress)
        self.loss = LossNet(self.model, t["energy_weight"], t["force_weight"], t["stress_weight"], dtype=self.dtype)
        params = self.loss.trainable_params()
        if self.dtype_name == "float64":
            # nn.Adam has no float64 kernel on CPU (MINDSPORE_NOTES §5); AdamWeightDecay with no decay does
            self.optimizer = nn.AdamWeightDecay(params, learning_rate=t["learning_rate"], beta1=t["beta1"],
                                                beta2=t["beta2"], eps=t["eps"], weight_decay=0.0)
        else:
            self.optimizer = nn.Adam(params, learning_rate=t["learning_rate"], beta1=t["beta1"], beta2=t["beta2"],
                                     eps=t["eps"], use_amsgrad=bool(t["amsgrad"]))
        self.use_ema = bool(t["ema_decay"])
        self.step = TrainStep(self.loss, self.distributed.wrap_optimizer(self.optimizer), ema=self.use_ema)
        # a second copy of the model holds the weights that are evaluated (the EMA ones)
        self.eval_net, self.eval_model = build_model(m, self.stats, self.dtype_name, compute_stress=self.has_stress)
        self._net_names = [name for name, _ in self.net.parameters_and_names()]
        self._trainable_ids = {id(p) for p in params}

        self.scheduler = make_scheduler(t)
        self.epoch = 0
        self.num_updates = 0
        self.best_val = math.inf
        self.best_epoch = 0
        self.history = []
        self.elapsed = 0.0
        self.timing = {"data_s": data_s, "compile_s": {}, "step_s": []}
        self.stopped = None
        if ckpt is not None:
            self._restore(*ckpt)
        self.info(f"run {self.run_dir}: {len(self.train_frames)} train / {len(self.val_frames)} val frames, "
                  f"species {self.mapper.symbols}, avg_num_neighbors {self.stats['avg_num_neighbors']:.3f}, "
                  f"{sum(int(np.prod(p.shape)) for p in params)} trainable parameters"
                  + (f"; resumed after epoch {self.epoch}" if ckpt is not None else ""))

    # ---------------------------------------------------------------- logging
    def info(self, msg):
        """Log a line (stdout and ``log.txt``)."""
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        if self._log is not None:
            self._log(line)
        else:
            print(line, flush=True)
        if not self.distributed.is_main:
            return
        with open(self._log_file, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    # ---------------------------------------------------------------- state
    def _net_params(self, net):
        return dict(net.parameters_and_names())

    def model_arrays(self):
        """``model/<name>`` (current weights) and ``ema/<name>`` (EMA of the trained weights) as numpy."""
        out = {}
        named = self._net_params(self.net)
        ema_of = {id(p): e for p, e in zip(self.step.weights, self.step.ema_params)}
        for name, p in named.items():
            out["model/" + name] = p.asnumpy().copy()
            if self.use_ema and id(p) in ema_of:
                out["ema/" + name] = ema_of[id(p)].asnumpy().copy()
        return out

    def state_arrays(self):
        """Everything a resume needs: model and EMA weights plus every parameter of the train step."""
        out = self.model_arrays()
        for p in self.step.get_parameters():
            out["train/" + p.name] = p.asnumpy().copy()
        return out

    def meta(self):
        """The JSON part of a checkpoint."""
        return {"config": self.cfg, "stats": self.stats, "epoch": self.epoch, "num_updates": self.num_updates,
                "best_val": self.best_val if math.isfinite(self.best_val) else None, "best_epoch": self.best_epoch,
                "scheduler": self.scheduler.state(), "history": self.history, "elapsed": self.elapsed,
                "use_ema": self.use_ema, "stopped": self.stopped}

    def _restore(self, arrays, meta):
        ms = _ms()
        params = {p.name: p for p in self.step.get_parameters()}
        wanted = {"train/" + k for k in params}
        missing = sorted(wanted - set(arrays))
        if missing:
            raise ValueError(f"checkpoint {self.last_path} does not match this model: missing {missing[:5]}"
                             + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        for name, p in params.items():
            arr = arrays["train/" + name]
            if tuple(arr.shape) != tuple(p.shape):
                raise ValueError(f"checkpoint {self.last_path}: parameter {name} has shape {arr.shape}, the model "
                                 f"expects {tuple(p.shape)}")
            p.set_data(ms.Tensor(arr, p.dtype))
        self.epoch = int(meta["epoch"])
        self.num_updates = int(meta["num_updates"])
        self.best_val = math.inf if meta["best_val"] is None else float(meta["best_val"])
        self.best_epoch = int(meta["best_epoch"])
        self.scheduler.load(meta["scheduler"])
        self.history = list(meta["history"])
        self.elapsed = float(meta["elapsed"])
        self._set_lr(self.scheduler.lr)

    def _set_lr(self, lr):
        ms = _ms()
        self.optimizer.learning_rate.set_data(ms.Tensor(lr, self.optimizer.learning_rate.dtype))

    def save(self, path):
        """Write a checkpoint (atomically; rank 0 only)."""
        if not self.distributed.is_main:
            return
        save_checkpoint(path, self.state_arrays(), self.meta())

    def load_eval_weights(self, arrays=None, use_ema=None):
        """Copy weights into the evaluation model: EMA weights (default when EMA is on) or the raw ones."""
        ms = _ms()
        arrays = self.model_arrays() if arrays is None else arrays
        use_ema = self.use_ema if use_ema is None else use_ema
        for name, p in self._net_params(self.eval_net).items():
            key = ("ema/" + name) if use_ema and ("ema/" + name) in arrays else ("model/" + name)
            p.set_data(ms.Tensor(arrays[key], p.dtype))

    # ---------------------------------------------------------------- loops
    def ema_decay(self):
        """This step's EMA decay: ``min(ema_decay, (1 + n) / (10 + n))`` (NequIP's warm-up)."""
        d = float(self.cfg["training"]["ema_decay"] or 0.0)
        n = self.num_updates
        return min(d, (1.0 + n) / (10.0 + n))

    def train_epoch(self):
        """One pass over the training batches; returns the epoch's mean loss and error sums."""
        ms = _ms()
        t = self.cfg["training"]
        bar = Progress(len(self.train_loader), f"epoch {self.epoch + 1}/{t['max_epochs']}", enabled=t["progress"])
        losses, acc = [], {}
        from applications.nequip.model import METRIC_NAMES

        for k, batch in enumerate(self.train_loader.epoch(self.epoch)):
            inputs = batch_inputs(batch, self.dtype)
            decay = ms.Tensor(self.ema_decay(), self.dtype)
            t0 = time.perf_counter()
            loss, errors = self.distributed.reduce_step(*self.step(*inputs, decay))
            loss = float(loss.asnumpy())
            dt = time.perf_counter() - t0
            key = "x".join(map(str, batch.bucket))
            if key not in self.timing["compile_s"]:
                self.timing["compile_s"][key] = dt
            else:
                self.timing["step_s"].append(dt)
            if not math.isfinite(loss):
                raise FloatingPointError(f"epoch {self.epoch + 1}, step {k}: the loss is {loss}; lower "
                                         "training.learning_rate or check the data")
            self.num_updates += 1
            losses.append(loss)
            _add(acc, dict(zip(METRIC_NAMES, errors.asnumpy().astype(np.float64))))
            bar.update(loss=loss)
            if t["log_every"] and (k + 1) % t["log_every"] == 0:
                self.info(f"epoch {self.epoch + 1} step {k + 1}/{len(self.train_loader)} loss {loss:.6g}")
        bar.close()
        return float(np.mean(losses)), acc

    def predict_loader(self, loader):
        """Run the evaluation model over a loader; yields ``(batch, energy, forces, stress or None)`` (numpy)."""
        for batch in loader.epoch(0):
            out = self.eval_model(*batch_inputs(batch, self.dtype, labels=False))
            stress = out[2].asnumpy() if len(out) > 2 else None
            yield batch, out[0].asnumpy(), out[1].asnumpy(), stress

    def evaluate(self, loader):
        """Error sums and summary (eV units) of the evaluation model on a loader."""
        t = self.cfg["training"]
        acc = {}
        for batch, e, f, s in self.predict_loader(loader):
            _add(acc, error_sums(e, f, batch, s))
        return summarize(acc, (t["energy_weight"], t["force_weight"], t["stress_weight"]))

    def train(self):
        """Train until ``max_epochs``, early stopping or ``max_time_s``; returns a summary dict."""
        t = self.cfg["training"]
        run_t0 = time.perf_counter() - self.elapsed
        while self.epoch < t["max_epochs"] and self.stopped is None:
            e_t0 = time.perf_counter()
            train_loss, acc = self.train_epoch()
            tr = summarize(acc)
            if self.val_loader is not None:
                self.load_eval_weights()
                val = self.evaluate(self.val_loader)
            else:
                val = {"loss": train_loss, "e_mae": tr["e_mae"], "e_rmse": tr["e_rmse"], "e_pa_mae": tr["e_pa_mae"],
                       "f_mae": tr["f_mae"], "f_rmse": tr["f_rmse"], "s_mae": tr["s_mae"]}
            val["loss"] = self.distributed.from_main(val["loss"])   # every rank takes the same decisions
            lr_used = self.scheduler.lr
            new_lr = self.scheduler.step(val["loss"])
            if new_lr != lr_used:
                self._set_lr(new_lr)
                if self.scheduler.adaptive:
                    self.info(f"learning rate {lr_used:.3g} -> {new_lr:.3g}")
            self.epoch += 1
            improved = val["loss"] < self.best_val
            if improved:
                self.best_val, self.best_epoch = float(val["loss"]), self.epoch
            self.elapsed = self.distributed.from_main(time.perf_counter() - run_t0)
            row = {"epoch": self.epoch, "lr": lr_used, "wall_s": round(self.elapsed, 3), "train_loss": train_loss,
                   "train_e_mae_meV": tr["e_mae"] * MEV, "train_e_per_atom_mae_meV": tr["e_pa_mae"] * MEV,
                   "train_f_mae_meV_A": tr["f_mae"] * MEV, "train_f_rmse_meV_A": tr["f_rmse"] * MEV,
                   "val_loss": val["loss"], "val_e_mae_meV": val["e_mae"] * MEV, "val_e_rmse_meV": val["e_rmse"] * MEV,
                   "val_e_per_atom_mae_meV": val["e_pa_mae"] * MEV, "val_f_mae_meV_A": val["f_mae"] * MEV,
                   "val_f_rmse_meV_A": val["f_rmse"] * MEV, "val_s_mae_meV_A3": val["s_mae"] * MEV}
            self.history.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                                 for k, v in row.items()})
            if self.epoch - self.best_epoch >= t["early_stopping_patience"]:
                self.stopped = f"no validation improvement for {t['early_stopping_patience']} epochs"
            elif self.scheduler.adaptive and self.scheduler.lr < t["early_stopping_min_lr"]:
                self.stopped = f"learning rate {self.scheduler.lr:.3g} below {t['early_stopping_min_lr']:.3g}"
            elif t["max_time_s"] is not None and self.elapsed > t["max_time_s"]:
                self.stopped = f"wall time {self.elapsed:.0f} s over max_time_s={t['max_time_s']}"
            self.save(self.last_path)
            if improved:
                self.save(self.best_path)
            self.write_csv()
            self.info(f"epoch {self.epoch}: train loss {train_loss:.5g} | val loss {val['loss']:.5g}, "
                      f"E MAE {val['e_mae'] * MEV:.2f} meV, F MAE {val['f_mae'] * MEV:.2f} meV/Å"
                      f"{' *' if improved else ''} ({time.perf_counter() - e_t0:.1f} s)")
            if t["plot_every"] and self.epoch % t["plot_every"] == 0:
                self.plot_curves()
        if self.stopped:
            self.info(f"stopped: {self.stopped}")
        return self.finish()

    def finish(self):
        """Final evaluation of the best checkpoint (validation and ``data.test_file``), plots, timing."""
        if not self.distributed.is_main:
            return {"epochs": self.epoch, "rank": self.distributed.rank, "run_dir": self.run_dir}
        self.write_csv()
        self.plot_curves()
        timing = self.timing_summary()
        with open(os.path.join(self.run_dir, "timing.json"), "w", encoding="utf-8") as fh:
            json.dump(timing, fh, indent=2)
        summary = {"epochs": self.epoch, "best_epoch": self.best_epoch,
                   "best_val_loss": self.best_val if math.isfinite(self.best_val) else None,
                   "stopped": self.stopped, "timing": timing, "run_dir": self.run_dir}
        best = self.best_path if os.path.isfile(self.best_path) else self.last_path
        if os.path.isfile(best):
            arrays, _ = load_checkpoint(best)
            self.load_eval_weights(arrays)
            sets = {}
            if self.val_loader is not None:
                sets["val"] = self.val_loader
            test_file = self.cfg["data"]["test_file"]
            if test_file:
                from applications.nequip.data import BatchLoader, build_neighbors

                test_frames = build_neighbors(read_frames(test_file, self.cfg["data"]), self.cfg["model"]["r_max"])
                atom_b, edge_b = _buckets(self.cfg["data"])
                sets["test"] = BatchLoader(test_frames, self.mapper, self.cfg["training"]["batch_size"],
                                           shuffle=False, atom_buckets=atom_b, edge_buckets=edge_b,
                                           dtype=self.np_dtype)
            for name, loader in sets.items():
                res = self.evaluate(loader)
                summary[name] = {k: v * MEV for k, v in res.items() if k != "loss"}
                summary[name]["loss"] = res["loss"]
                self.info(f"best model (epoch {self.best_epoch}) on {name}: E MAE {res['e_mae'] * MEV:.2f} meV "
                          f"(RMSE {res['e_rmse'] * MEV:.2f}), F MAE {res['f_mae'] * MEV:.2f} meV/Å "
                          f"(RMSE {res['f_rmse'] * MEV:.2f})")
            if sets:
                last = "test" if "test" in sets else "val"
                self.plot_parity(sets[last], name=last)
        with open(os.path.join(self.run_dir, "final_metrics.json"), "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2, default=float)
        return summary

    def timing_summary(self):
        """Compile time per bucket and the median step time (s)."""
        steps = self.timing["step_s"]
        return {"data_s": self.timing["data_s"], "compile_s": self.timing["compile_s"],
                "step_median_s": float(np.median(steps)) if steps else None, "steps_timed": len(steps)}

    # ---------------------------------------------------------------- outputs
    def write_csv(self):
        """Rewrite ``metrics.csv`` from the history (atomic; rank 0 only)."""
        if not self.distributed.is_main:
            return
        path = os.path.join(self.run_dir, "metrics.csv")
        tmp = path + ".tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            w.writeheader()
            for row in self.history:
                w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
        os.replace(tmp, path)

    def plot_curves(self):
        """``loss_curves.png``: losses and force / energy MAE per epoch."""
        if not self.history or not self.distributed.is_main:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ep = [r["epoch"] for r in self.history]

        def col(k):
            return [np.nan if r.get(k) is None else r[k] for r in self.history]

        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        ax[0].plot(ep, col("train_loss"), label="train")
        ax[0].plot(ep, col("val_loss"), label="validation")
        ax[0].set_ylabel("loss")
        ax[1].plot(ep, col("train_f_mae_meV_A"), label="train")
        ax[1].plot(ep, col("val_f_mae_meV_A"), label="validation (EMA)")
        ax[1].set_ylabel("force MAE (meV/Å)")
        ax[2].plot(ep, col("train_e_mae_meV"), label="train")
        ax[2].plot(ep, col("val_e_mae_meV"), label="validation (EMA)")
        ax[2].set_ylabel("energy MAE (meV)")
        for a in ax:
            a.set_xlabel("epoch")
            a.set_yscale("log")
            a.grid(alpha=0.3)
            a.legend()
        fig.suptitle(f"NequIP {self.cfg['run_name']}")
        fig.tight_layout()
        _save_fig(fig, os.path.join(self.run_dir, "loss_curves.png"))
        plt.close(fig)

    def plot_parity(self, loader, name="val"):
        """``force_parity.png``: predicted vs reference force components of the evaluation model."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ref, pred = [], []
        for batch, _, f, _ in self.predict_loader(loader):
            m = batch.forces_mask[:, 0] > 0
            ref.append(batch.forces[m].ravel())
            pred.append(f[m].ravel())
        if not ref:
            return
        ref, pred = np.concatenate(ref), np.concatenate(pred)
        mae = np.abs(ref - pred).mean() * MEV
        fig, ax = plt.subplots(figsize=(4.6, 4.4))
        ax.scatter(ref, pred, s=2, alpha=0.4)
        lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_xlabel("reference force component (eV/Å)")
        ax.set_ylabel("predicted (eV/Å)")
        ax.set_title(f"{name}: MAE {mae:.1f} meV/Å")
        fig.tight_layout()
        _save_fig(fig, os.path.join(self.run_dir, "force_parity.png"))
        plt.close(fig)


def _save_fig(fig, path):
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def main(argv=None):
    """Command-line entry point: ``python -m applications.nequip.train --config FILE [--resume]``."""
    parser = argparse.ArgumentParser(prog="python -m applications.nequip.train", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="YAML config (see applications/nequip/configs)")
    parser.add_argument("--resume", action="store_true", help="continue from <out_dir>/<run_name>/last.ckpt")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config entry, e.g. --set training.max_epochs=5 (repeatable)")
    parser.add_argument("--threads", type=int, default=None, help="CPU kernel threads (default: MindSpore's)")
    args = parser.parse_args(argv)
    os.environ.setdefault("GLOG_v", "3")
    from applications.nequip.distributed import from_environment

    distributed = from_environment()   # data parallel under msrun (see applications/nequip/distributed.py)
    try:
        cfg = load_config(args.config, parse_set(args.set))
        ms = _ms()
        if args.threads:
            ms.device_context.cpu.op_tuning.threads_num(args.threads)
        summary = Trainer(cfg, resume=args.resume, distributed=distributed).train()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in summary.items() if k != "timing"}, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
