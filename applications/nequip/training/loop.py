"""The training loop of a NequIP run: :class:`Trainer` ties the data (:mod:`.data`), the compiled train step
(:mod:`applications.nequip.model.loss`), the schedules (:mod:`.schedulers`), the run state and checkpoints
(:mod:`.state`), the reports (:mod:`.reporting`) and interrupts (:mod:`.interrupt`) together.

Order of a run: everything is loaded and checked first (config, data, resume checkpoint, model) — a refused run
leaves no folder; then the run folder (``config.yaml``, ``log.txt``), the compile of every graph the run needs
(through the compile cache, :mod:`applications.nequip.compile_cache`), the epochs, and the final evaluation of the
best checkpoint.
"""
import copy
import math
import os
import time

import numpy as np

from applications.nequip.checkpoint import load_checkpoint, save_checkpoint
from applications.nequip.config import same_model, to_yaml
from applications.nequip.files import atomic_write, write_json
from applications.nequip.training import reporting
from applications.nequip.training.data import make_loaders, prepare_data
from applications.nequip.training.graphs import build_training_graphs
from applications.nequip.training.interrupt import InterruptGuard, Interrupted
from applications.nequip.training.metrics import (MEV, accumulate, error_sums, history_row, in_mev, split_sums,
                                                   summarize)
from applications.nequip.training.schedulers import make_scheduler
from applications.nequip.training.state import (RunPaths, TrainerState, checkpoint_arrays, eval_weights,
                                                 restore_arrays, resume_source)

__all__ = ["Trainer", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite (the last good state is the previous epoch's ``last.ckpt``)."""


class Trainer:
    """A NequIP training run: data, model, compiled train step, validation, checkpoints, logs and plots.

    Args:
        cfg (dict): a complete config (:func:`applications.nequip.config.load_config`).
        resume (bool or str): continue the run in ``run_dir``: ``True`` / ``"last"`` from ``last.ckpt``, ``"best"``
            from ``best.ckpt``. Without it, a folder holding a run is an error (never overwritten by accident).
        run_dir (str, optional): default ``<out_dir>/<run_name>``.
        log (callable, optional): where log lines go (default: stdout); they also go to ``log.txt``.
        distributed (optional): ``applications.nequip.distributed.DataParallel`` under msrun (shards the batches,
            averages the gradients in the train step, reduces the metrics; only rank 0 writes files); default
            ``SingleProcess()``.
        compile_cache (str, optional): root folder of the compile cache (None: compile without it).
        device (str): the device the graphs run on (part of the compile cache key).

    Raises:
        ValueError: a bad config, dataset or checkpoint (before anything is written).

    Examples:
        >>> from applications.nequip.config import load_config
        >>> cfg = load_config("applications/nequip/configs/tiny.yaml")   # doctest: +SKIP
        >>> Trainer(cfg).train()["best_val_loss"] > 0                      # doctest: +SKIP
        True
    """

    def __init__(self, cfg, resume=False, run_dir=None, log=None, distributed=None, compile_cache=None,
                 device="CPU"):
        import mindspore as ms

        from applications.nequip.distributed import SingleProcess
        from applications.nequip.model.build import MS_DTYPES

        self.distributed = distributed if distributed is not None else SingleProcess()
        self.distributed.check(cfg)
        self.cfg = copy.deepcopy(cfg)
        self.paths = RunPaths(run_dir or os.path.join(cfg["out_dir"], cfg["run_name"]))
        self.run_dir = self.paths.run_dir
        self.last_path, self.best_path = self.paths.last, self.paths.best
        self.info = reporting.RunLog(log, enabled=self.distributed.is_main)
        self.compile_cache, self.device = compile_cache, device
        ckpt_path, ckpt = resume_source(self.paths, resume)
        if ckpt is not None:
            saved = ckpt[1]["config"]
            if not same_model(saved["model"], self.cfg["model"]) or saved["dtype"] != self.cfg["dtype"]:
                raise ValueError(f"--resume: the model section (or dtype) of the config differs from the one in "
                                 f"{ckpt_path}; resume with the same model")
        ms.set_context(mode=ms.GRAPH_MODE)
        self.dtype_name = self.cfg["dtype"]
        self.dtype = MS_DTYPES[self.dtype_name]
        self.np_dtype = np.float64 if self.dtype_name == "float64" else np.float32
        t = self.cfg["training"]

        # data (checked before anything is compiled or written)
        t0 = time.perf_counter()
        self.data = prepare_data(self.cfg, stats=None if ckpt is None else ckpt[1]["stats"], log=self.info)
        t.update(self.data.weights)
        self.train_frames, self.val_frames = self.data.train_frames, self.data.val_frames
        self.mapper, self.stats = self.data.mapper, self.data.stats
        self.has_stress = self.data.has_stress
        loaders = make_loaders(self.cfg, self.data, self.np_dtype)
        self.train_loader = self.distributed.shard(loaders[0])
        self.val_loader, self.test_loader = loaders[1:]
        data_s = time.perf_counter() - t0

        # model, loss, optimizer, compiled step, evaluation copy
        graphs = build_training_graphs(self.cfg, self.stats, self.has_stress, self.distributed)
        self.net, self.model, self.loss, self.optimizer, self.step, self.eval_net, self.eval_model = graphs
        self.use_ema = bool(t["ema_decay"])
        params = self.loss.trainable_params()

        self.scheduler = make_scheduler(t)
        self.state = TrainerState()
        self.timing = {"data_s": data_s, "compile_s": {}, "step_s": [], "epoch_s": []}
        self._compiled = set()
        self._skipped_before = 0  # float16 steps skipped on overflow before this epoch
        if ckpt is not None:
            arrays, meta = ckpt
            restore_arrays(self.net, self.step, arrays, ckpt_path)
            if self.step.scaled:
                self._skipped_before = int(self.step.skipped_steps.asnumpy())
            self.state.load_meta(meta)
            self.state.truncate_history()
            self.scheduler.load(meta["scheduler"])
            self._set_lr(self.scheduler.lr)
        n_params = sum(int(np.prod(p.shape)) for p in params)
        aan = self.stats["avg_num_neighbors"]
        self.info(f"run {self.run_dir}: {len(self.train_frames)} train / {len(self.val_frames)} val / "
                  f"{len(self.data.test_frames)} test frames, species {self.mapper.symbols}, avg_num_neighbors "
                  f"{'-' if aan is None else f'{aan:.3f}'}, {n_params} trainable parameters, "
                  f"{self.distributed.describe()}"
                  + (f"; resuming {ckpt_path} after epoch {self.state.epoch}"
                     + (f", step {self.state.step_in_epoch}" if self.state.step_in_epoch else "")
                     if ckpt is not None else ""))
        # everything is checked: the run folder
        if self.distributed.is_main:
            os.makedirs(self.run_dir, exist_ok=True)
            self.info.open(self.paths.log)
            atomic_write(self.paths.config, to_yaml(self.cfg))
        for line in reporting.model_summary(self.net):
            self.info(line)

    # ------------------------------------------------------------------ the run state's counters
    @property
    def epoch(self):
        """Completed epochs (``state.epoch``; scripts that drive :meth:`train_epoch` themselves advance it)."""
        return self.state.epoch

    @epoch.setter
    def epoch(self, value):
        self.state.epoch = int(value)

    num_updates = property(lambda self: self.state.num_updates, doc="Optimizer steps so far.")
    history = property(lambda self: self.state.history, doc="One row per completed epoch.")
    best_val = property(lambda self: self.state.best_val, doc="The best validation loss.")
    best_epoch = property(lambda self: self.state.best_epoch, doc="Its epoch.")
    stopped = property(lambda self: self.state.stopped, doc="Why training stopped (None: it has not).")

    # ------------------------------------------------------------------ state and checkpoints
    def model_arrays(self):
        """``model/<name>`` (current weights) and ``ema/<name>`` (EMA of the trained weights) as numpy."""
        return {k: v for k, v in self.state_arrays().items() if not k.startswith("train/")}

    def state_arrays(self):
        """Everything a resume needs: weights, EMA weights and the other parameters of the train step."""
        return checkpoint_arrays(self.net, self.step)

    def meta(self):
        """The JSON part of a checkpoint."""
        return {"config": self.cfg, "stats": self.stats, "scheduler": self.scheduler.state(),
                "use_ema": self.use_ema, "periodic": bool(any(f.pbc.any() for f in self.train_frames)),
                **self.state.to_meta()}

    def save(self, path):
        """Write a checkpoint (atomically; rank 0 only)."""
        if self.distributed.is_main:
            save_checkpoint(path, self.state_arrays(), self.meta())

    def _set_lr(self, lr):
        import mindspore as ms

        self.optimizer.learning_rate.set_data(ms.Tensor(lr, self.optimizer.learning_rate.dtype))

    def load_eval_weights(self, arrays=None, use_ema=None):
        """Copy weights into the evaluation model: EMA weights (default when EMA is on) or the raw ones."""
        import mindspore as ms

        weights = eval_weights(self.model_arrays() if arrays is None else arrays,
                               self.use_ema if use_ema is None else use_ema)
        for name, p in self.eval_net.parameters_and_names():
            p.set_data(ms.Tensor(weights[name], p.dtype))

    # ------------------------------------------------------------------ compiling
    def graph_settings(self):
        """What enters the compiled graphs besides the inputs' shapes (the compile cache key)."""
        t = self.cfg["training"]
        keys = ("energy_weight", "force_weight", "stress_weight", "learning_rate", "amsgrad", "beta1", "beta2", "eps",
                "ema_decay", "batch_size")
        return {"model": self.cfg["model"], "stats": self.stats, "dtype": self.dtype_name,
                "training": {k: t[k] for k in keys}, "ranks": self.distributed.size, "has_stress": self.has_stress}

    def _example(self, bucket, labels):
        from applications.nequip.data import padding_batch
        from applications.nequip.model import batch_inputs

        return batch_inputs(padding_batch(bucket[0], bucket[1], bucket[2] - 1, self.np_dtype), self.dtype, labels)

    def compile_graphs(self):
        """Compile the train step for every bucket of the training batches and the evaluation graph for every
        bucket of the validation and test batches, up front, through the compile cache."""
        import mindspore as ms

        from applications.nequip.compile_cache import PlanItem, compile_plan

        decay = ms.Tensor(0.0, self.dtype)
        train_buckets = self.train_loader.buckets(range(self.state.epoch, self.cfg["training"]["max_epochs"]))
        plan = [PlanItem(f"the train step for bucket {b[:2]} ({b[2] - 1} structures)", self.step,
                         self._example(b, True) + (decay,)) for b in train_buckets]
        eval_buckets = sorted(set(b for ld in (self.val_loader, self.test_loader) if ld is not None
                                  for b in ld.buckets([0])))
        plan += [PlanItem(f"the evaluation graph for bucket {b[:2]}", self.eval_model, self._example(b, False))
                 for b in eval_buckets]
        self.distributed.beat("compiling")
        result = compile_plan(plan, self.compile_cache, self.graph_settings(), self.device,
                              rank=self.distributed.rank, log=self.info)
        for item, seconds in zip(plan, result["seconds"]):
            self.timing["compile_s"][item.label] = seconds
        self._compiled = {("train",) + tuple(b) for b in train_buckets}
        return result

    # ------------------------------------------------------------------ loops
    def ema_decay(self):
        """This step's EMA decay: ``min(ema_decay, (1 + n) / (10 + n))`` (NequIP's warm-up)."""
        d = float(self.cfg["training"]["ema_decay"] or 0.0)
        n = self.state.num_updates
        return min(d, (1.0 + n) / (10.0 + n))

    def _read_sums(self):
        """The device-side metric sums of the steps since the last read (global under data parallelism)."""
        steps, loss_sum, sums = split_sums(self.distributed.reduce_sums(self.step.sums.asnumpy()))
        return steps, loss_sum, sums

    def _check_finite(self, loss_sum, first, last):
        if not math.isfinite(loss_sum):
            raise TrainingDiverged(
                f"the training loss became {loss_sum} in epoch {self.state.epoch + 1} (steps {first}-{last}); "
                f"{self.last_path} holds the state before this epoch; lower training.learning_rate or check the "
                "data")

    def train_epoch(self, guard=None):
        """One pass over the training batches (from the step a resumed run stopped at); returns the epoch's mean
        loss and error sums, or None when a signal stopped it after a step (the state is saved by the caller)."""
        import mindspore as ms

        from applications.nequip.model import batch_inputs

        t = self.cfg["training"]
        start = self.state.step_in_epoch
        bar = reporting.Progress(len(self.train_loader), f"epoch {self.state.epoch + 1}/{t['max_epochs']}",
                                 enabled=t["progress"] and self.distributed.is_main, start=start)
        last_read = start
        for k, batch in enumerate(self.train_loader.epoch(self.state.epoch, start=start), start=start):
            key = ("train",) + tuple(batch.bucket)
            compiling = key not in self._compiled
            if compiling:
                self.info(f"compiling the train step for bucket {batch.bucket[:2]} (not planned)…")
            inputs = batch_inputs(batch, self.dtype)
            decay = ms.Tensor(self.ema_decay(), self.dtype)
            t0 = time.perf_counter()
            loss, _ = self.step(*inputs, decay)
            if compiling:
                loss.asnumpy()
                dt = time.perf_counter() - t0
                self._compiled.add(key)
                self.timing["compile_s"]["x".join(map(str, batch.bucket))] = dt
                self.info(f"compiled the train step for bucket {batch.bucket[:2]} in {dt:.1f} s")
            else:
                self.timing["step_s"].append(time.perf_counter() - t0)
            self.state.num_updates += 1
            self.state.step_in_epoch = k + 1
            bar.update(compiled=compiling)
            if t["log_every"] and (k + 1) % t["log_every"] == 0:
                steps, loss_sum, _ = self._read_sums()
                self._check_finite(loss_sum, last_read + 1, k + 1)
                last_read = k + 1
                bar.postfix["loss"] = loss_sum / max(steps, 1)
                self.info(f"epoch {self.state.epoch + 1} step {k + 1}/{len(self.train_loader)} mean loss "
                          f"{loss_sum / max(steps, 1):.6g}")
            if guard is not None:
                guard.install()
                if guard.signal is not None and not self.distributed.enabled:
                    bar.close()
                    return None
        bar.close()
        steps, loss_sum, sums = self._read_sums()
        self._check_finite(loss_sum, last_read + 1, len(self.train_loader))
        self.step.reset_sums()
        if self.step.scaled:
            skipped = int(self.step.skipped_steps.asnumpy())
            self.info(f"epoch {self.state.epoch + 1}: float16 loss scale {float(self.step.loss_scale.asnumpy()):g}, "
                      f"{skipped - self._skipped_before} step(s) skipped on overflow ({skipped} in all)")
            self._skipped_before = skipped
        self.state.step_in_epoch = 0
        return loss_sum / max(steps, 1), sums

    def predict_loader(self, loader):
        """Run the evaluation model over a loader; yields ``(batch, energy, forces, stress or None)`` (numpy)."""
        from applications.nequip.model import batch_inputs

        for batch in loader.epoch(0):
            out = self.eval_model(*batch_inputs(batch, self.dtype, labels=False))
            stress = out[2].asnumpy() if len(out) > 2 else None
            yield batch, out[0].asnumpy(), out[1].asnumpy(), stress

    def evaluate(self, loader):
        """Error sums and summary (eV units) of the evaluation model on a loader."""
        t = self.cfg["training"]
        acc = {}
        for batch, e, f, s in self.predict_loader(loader):
            accumulate(acc, error_sums(e, f, batch, s))
        return summarize(acc, (t["energy_weight"], t["force_weight"], t["stress_weight"]))

    def _interrupt(self, signum, where):
        """Save the run where a signal stopped it and raise :class:`Interrupted`."""
        self.save(self.last_path)
        command = "mindchemistry-nequip train --config " + self.paths.config + " --resume"
        self.info(f"interrupted {where}: saved {self.last_path}; continue with: {command}")
        raise Interrupted(signum, f"interrupted {where}; resume with --resume")

    def train(self):
        """Train until ``max_epochs``, early stopping or ``max_time_s``; returns a summary dict.

        Raises:
            Interrupted: SIGINT / SIGTERM (after saving ``last.ckpt``).
            TrainingDiverged: a non-finite loss.
        """
        t = self.cfg["training"]
        with InterruptGuard() as guard:
            self.compile_graphs()
            run_t0 = time.perf_counter() - self.state.elapsed
            if guard.signal is not None:
                self._interrupt(guard.signal, "while compiling, before the first step")
            while self.state.epoch < t["max_epochs"] and self.state.stopped is None:
                e_t0 = time.perf_counter() - self.state.epoch_elapsed
                result = self.train_epoch(guard)
                if result is None:
                    self.state.elapsed = time.perf_counter() - run_t0
                    self.state.epoch_elapsed = time.perf_counter() - e_t0
                    self._interrupt(guard.signal, f"in epoch {self.state.epoch + 1} after step "
                                                  f"{self.state.step_in_epoch}/{len(self.train_loader)}")
                self.state.epoch_elapsed = 0.0
                self._end_epoch(result, e_t0, run_t0)
                if self.distributed.agree_stop(guard.signal is not None):
                    self._interrupt(guard.signal or 15, f"after epoch {self.state.epoch}")
        if self.state.stopped:
            self.info(f"stopped: {self.state.stopped}")
        return self.finish()

    def _end_epoch(self, result, e_t0, run_t0):
        t = self.cfg["training"]
        st = self.state
        train_loss, acc = result
        tr = summarize(acc)
        if self.val_loader is not None:
            self.load_eval_weights()
            val = self.evaluate(self.val_loader)
        else:
            val = {"loss": train_loss, **{k: tr[k] for k in ("e_mae", "e_rmse", "e_pa_mae", "f_mae", "f_rmse",
                                                              "s_mae")}}
        val["loss"] = self.distributed.from_main(val["loss"])   # every rank takes the same decisions
        lr_used = self.scheduler.lr
        new_lr = self.scheduler.step(val["loss"])
        if new_lr != lr_used:
            self._set_lr(new_lr)
            if self.scheduler.adaptive:
                self.info(f"learning rate {lr_used:.3g} -> {new_lr:.3g}")
        st.epoch += 1
        improved = val["loss"] < st.best_val
        if improved:
            st.best_val, st.best_epoch = float(val["loss"]), st.epoch
        st.elapsed = self.distributed.from_main(time.perf_counter() - run_t0)
        st.history.append(history_row(st.epoch, lr_used, st.elapsed, train_loss, tr, val))
        if st.epoch - st.best_epoch >= t["early_stopping_patience"]:
            st.stopped = f"no validation improvement for {t['early_stopping_patience']} epochs"
        elif self.scheduler.adaptive and self.scheduler.lr < t["early_stopping_min_lr"]:
            st.stopped = f"learning rate {self.scheduler.lr:.3g} below {t['early_stopping_min_lr']:.3g}"
        elif t["max_time_s"] is not None and st.elapsed > t["max_time_s"]:
            st.stopped = f"wall time {st.elapsed:.0f} s over max_time_s={t['max_time_s']}"
        self.save(self.last_path)
        if improved:
            self.save(self.best_path)
        if self.distributed.is_main:
            reporting.write_csv(self.paths.csv, st.history)
        epoch_s = time.perf_counter() - e_t0
        self.timing["epoch_s"].append(epoch_s)
        steady = self.timing["epoch_s"][1:] or self.timing["epoch_s"]
        eta = float(np.median(steady)) * (t["max_epochs"] - st.epoch)
        self.info(f"epoch {st.epoch}/{t['max_epochs']}: train loss {train_loss:.5g} | val loss {val['loss']:.5g}, "
                  f"E MAE {_mev(val['e_mae'])} meV, F MAE {_mev(val['f_mae'])} meV/Å{' *' if improved else ''} "
                  f"({epoch_s:.1f} s" + (f", ETA {reporting.format_duration(eta)})" if st.epoch < t["max_epochs"]
                                         else ")"))
        if t["plot_every"] and st.epoch % t["plot_every"] == 0 and self.distributed.is_main:
            reporting.plot_curves(self.paths.curves, st.history, f"NequIP {self.cfg['run_name']}")

    def finish(self):
        """Final evaluation of the best checkpoint (validation and ``data.test_file``), plots, timing."""
        st = self.state
        if not self.distributed.is_main:
            return {"epochs": st.epoch, "rank": self.distributed.rank, "run_dir": self.run_dir}
        reporting.write_csv(self.paths.csv, st.history)
        reporting.plot_curves(self.paths.curves, st.history, f"NequIP {self.cfg['run_name']}")
        timing = self.timing_summary()
        write_json(self.paths.timing, timing)
        summary = {"epochs": st.epoch, "best_epoch": st.best_epoch,
                   "best_val_loss": st.best_val if math.isfinite(st.best_val) else None,
                   "stopped": st.stopped, "timing": timing, "run_dir": self.run_dir}
        best = self.best_path if os.path.isfile(self.best_path) else self.last_path
        if os.path.isfile(best):
            arrays, _ = load_checkpoint(best)
            self.load_eval_weights(arrays)
            sets = {name: ld for name, ld in (("val", self.val_loader), ("test", self.test_loader)) if ld is not None}
            for name, loader in sets.items():
                res = self.evaluate(loader)
                summary[name] = {k: in_mev(v) for k, v in res.items() if k != "loss"}
                summary[name]["loss"] = res["loss"]
                self.info(f"best model (epoch {st.best_epoch}) on {name}: E MAE {_mev(res['e_mae'])} meV "
                          f"(RMSE {_mev(res['e_rmse'])}), F MAE {_mev(res['f_mae'])} meV/Å "
                          f"(RMSE {_mev(res['f_rmse'])})")
            if sets:
                last = "test" if "test" in sets else "val"
                self.plot_parity(sets[last], name=last)
        write_json(self.paths.final, summary)
        return summary

    def timing_summary(self):
        """Compile times, the median step time and the epoch times (s)."""
        steps = self.timing["step_s"]
        return {"data_s": self.timing["data_s"], "compile_s": self.timing["compile_s"],
                "compile_total_s": sum(self.timing["compile_s"].values()),
                "step_median_s": float(np.median(steps)) if steps else None, "steps_timed": len(steps),
                "epoch_s": self.timing["epoch_s"]}

    def plot_parity(self, loader, name="val"):
        """``force_parity.png``: predicted vs reference force components of the evaluation model."""
        ref, pred = [], []
        for batch, _, f, _ in self.predict_loader(loader):
            m = batch.forces_mask[:, 0] > 0
            ref.append(batch.forces[m].ravel())
            pred.append(f[m].ravel())
        reporting.plot_parity(self.paths.parity, np.concatenate(ref), np.concatenate(pred), name)


def _mev(value):
    return "-" if value is None else f"{value * MEV:.2f}"
