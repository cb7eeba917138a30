"""What a training run tells its user: the log (stdout and ``log.txt``), a progress bar with an ETA from
steady-state steps, the model summary, ``metrics.csv`` and the plots.

>>> import io
>>> s = io.StringIO(); p = Progress(2, "epoch 1", stream=s)
>>> p.update(loss=1.0); p.update(loss=0.5); p.close()
>>> "2/2" in s.getvalue()
True
"""
import csv
import os
import sys
import time

import numpy as np

from applications.nequip.files import atomic_path

__all__ = ["Progress", "RunLog", "CSV_COLUMNS", "write_csv", "plot_curves", "plot_parity", "model_summary",
           "format_duration"]

CSV_COLUMNS = ("epoch", "lr", "wall_s", "train_loss", "train_e_mae_meV", "train_e_per_atom_mae_meV",
               "train_f_mae_meV_A", "train_f_rmse_meV_A", "val_loss", "val_e_mae_meV", "val_e_rmse_meV",
               "val_e_per_atom_mae_meV", "val_f_mae_meV_A", "val_f_rmse_meV_A", "val_s_mae_meV_A3")


def format_duration(seconds):
    """``'42 s'``, ``'12 min'``, ``'3.5 h'``.

    >>> format_duration(42.4), format_duration(725), format_duration(12600)
    ('42 s', '12 min', '3.5 h')
    """
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """A dependency-free progress bar on a stream (redrawn in place on a terminal, one line otherwise).

    The rate and ETA count only steady-state steps: a step marked ``compiled=True`` (it compiled a graph) restarts
    the clock, so the first epoch's estimate does not include the compile.
    """

    def __init__(self, total, desc="", enabled=True, stream=None, width=24, start=0):
        self.total, self.desc, self.enabled, self.width = int(total), desc, enabled, width
        self.stream = sys.stderr if stream is None else stream
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.n = int(start)
        self.t0 = time.perf_counter()
        self._rate_n, self._rate_t0 = self.n, self.t0
        self.postfix, self._last = {}, 0.0

    def rate(self):
        """Steady-state steps per second (0 before the first one)."""
        elapsed = time.perf_counter() - self._rate_t0
        steps = self.n - self._rate_n
        return steps / elapsed if elapsed > 0 and steps > 0 else 0.0

    def _line(self):
        frac = self.n / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.t0
        rate = self.rate()
        eta = f"{(self.total - self.n) / rate:.0f}s" if rate > 0 else "?"
        post = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.postfix.items())
        return (f"{self.desc} [{'#' * filled}{'.' * (self.width - filled)}] {self.n}/{self.total} "
                f"[{elapsed:.0f}s<{eta}, {rate:.2f} it/s] {post}").rstrip()

    def update(self, n=1, compiled=False, **postfix):
        """Advance by ``n`` steps and set the values shown after the bar; ``compiled``: these steps compiled."""
        self.n += n
        if compiled:
            self._rate_n, self._rate_t0 = self.n, time.perf_counter()
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


class RunLog:
    """Timestamped lines to stdout (or ``sink``) and to ``log.txt`` of the run folder.

    Lines logged before the folder exists (a run refused while loading leaves no folder) are kept and written
    when :meth:`open` is called.
    """

    def __init__(self, sink=None, enabled=True):
        self.sink = sink
        self.enabled = enabled      # False: the file part is off (non-main data-parallel ranks)
        self.path = None
        self._pending = []

    def open(self, path):
        """Start writing to ``path`` (appending), flushing the lines logged so far."""
        self.path = path
        if self.enabled:
            with open(path, "a", encoding="utf-8") as fh:
                fh.writelines(line + "\n" for line in self._pending)
        self._pending = []

    def __call__(self, msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        if self.sink is not None:
            self.sink(line)
        else:
            print(line, flush=True)
        if not self.enabled:
            return
        if self.path is None:
            self._pending.append(line)
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def model_summary(net):
    """Lines describing the network: its precision, then block by block irreps in -> out and trainable / frozen
    parameter counts, then the totals."""
    def count(cell, trainable):
        return sum(int(np.prod(p.shape)) for p in cell.get_parameters() if p.requires_grad == trainable)

    rows = []
    for name, cell in net.name_cells().items():
        if hasattr(cell, "__iter__") and not hasattr(cell, "irreps_out"):   # a CellList: one row per layer
            items = [(f"{name}.{i}", c) for i, c in enumerate(cell)]
        else:
            items = [(name, cell)]
        for label, c in items:
            irreps_in = getattr(c, "irreps_in", None)
            irreps_out = getattr(c, "irreps_out", None)
            irreps = f"{irreps_in} -> {irreps_out}" if irreps_in is not None else str(irreps_out or "")
            rows.append((label, type(c).__name__, count(c, True), count(c, False), irreps))
    own = list(net.parameters_and_names(expand=False))
    if own:
        rows.append(("(own)", ", ".join(name.rsplit(".", 1)[-1] for name, _ in own),
                     sum(int(np.prod(p.shape)) for _, p in own if p.requires_grad),
                     sum(int(np.prod(p.shape)) for _, p in own if not p.requires_grad), ""))
    total_t = sum(r[2] for r in rows)
    total_f = sum(r[3] for r in rows)
    width = max(len(r[0]) for r in rows)
    lines = []
    dtype, compute_dtype = getattr(net, "dtype", None), getattr(net, "compute_dtype", None)
    if dtype is not None:
        lines.append(f"precision: {str(dtype).lower()}" + (f", products in {str(compute_dtype).lower()} "
                                                          "(compute_dtype)" if compute_dtype is not None else ""))
    lines.append(f"{'block':{width}s}  {'type':36s} {'trainable':>10s} {'frozen':>7s}  irreps")
    lines += [f"{r[0]:{width}s}  {r[1][:36]:36s} {r[2]:10d} {r[3]:7d}  {r[4]}".rstrip() for r in rows]
    lines.append(f"{'total':{width}s}  {'':36s} {total_t:10d} {total_f:7d}")
    return lines


def write_csv(path, history):
    """Rewrite ``metrics.csv`` from the history rows (atomic; empty cells for absent values)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            w.writeheader()
            for row in history:
                w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_fig(fig, path):
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110)


def plot_curves(path, history, title):
    """``loss_curves.png``: losses and force / energy MAE per epoch (points, so that one epoch shows too)."""
    if not history:
        return
    plt = _pyplot()
    ep = [r["epoch"] for r in history]

    def col(k):
        return [np.nan if r.get(k) is None else r[k] for r in history]

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = (("loss", "train_loss", "val_loss", "validation"),
              ("force MAE (meV/Å)", "train_f_mae_meV_A", "val_f_mae_meV_A", "validation (EMA)"),
              ("energy MAE (meV)", "train_e_mae_meV", "val_e_mae_meV", "validation (EMA)"))
    for a, (ylabel, train_key, val_key, val_label) in zip(ax, panels):
        for key, label in ((train_key, "train"), (val_key, val_label)):
            values = col(key)
            if np.isfinite(values).any():
                a.plot(ep, values, marker="o", markersize=3, label=label)
        a.set_ylabel(ylabel)
        a.set_xlabel("epoch")
        if any(v > 0 for v in np.nan_to_num(col(train_key) + col(val_key))):
            a.set_yscale("log")
        if len(ep) == 1:
            a.set_xlim(ep[0] - 1, ep[0] + 1)
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend()
    fig.suptitle(title)
    fig.tight_layout()
    _save_fig(fig, path)
    plt.close(fig)


def plot_parity(path, ref, pred, name):
    """``force_parity.png``: predicted vs reference force components (eV/Å); nothing without labels."""
    if len(ref) == 0:
        return
    plt = _pyplot()
    mae = np.abs(ref - pred).mean() * 1000.0
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.scatter(ref, pred, s=2, alpha=0.4)
    lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("reference force component (eV/Å)")
    ax.set_ylabel("predicted (eV/Å)")
    ax.set_title(f"{name}: MAE {mae:.1f} meV/Å")
    fig.tight_layout()
    _save_fig(fig, path)
    plt.close(fig)
