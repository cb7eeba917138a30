"""Error sums and the metrics made from them: MAE / RMSE of energies (per structure and per atom), forces and
stress, and the loss, in eV units (reports multiply by :data:`MEV`).

Sums, not means, are accumulated (on the device during training, :attr:`~applications.nequip.model.TrainStep.sums`;
in numpy for evaluation, :func:`error_sums`), so batches of any size and data-parallel ranks add up exactly; a
quantity without labels has a count of zero and its metrics are None (``null`` in JSON).

>>> m = summarize({"e_abs": 2.0, "e_sq": 2.0, "e_pa_abs": 1.0, "e_pa_sq": 0.5, "n_e": 2.0,
...                "f_abs": 0.0, "f_sq": 0.0, "n_f": 0.0, "s_abs": 0.0, "s_sq": 0.0, "n_s": 0.0})
>>> m["e_mae"], m["f_mae"]
(1.0, None)
"""
import math

import numpy as np

from applications.nequip.model.inputs import METRIC_NAMES, SUM_NAMES

__all__ = ["MEV", "METRIC_NAMES", "SUM_NAMES", "error_sums", "summarize", "accumulate", "loss_of", "split_sums",
           "in_mev", "history_row"]

MEV = 1000.0


def error_sums(pred_e, pred_f, batch, pred_s=None):
    """float64 error sums of one padded batch, named as :data:`METRIC_NAMES` (numpy; padding excluded)."""
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


def accumulate(acc, sums):
    """Add the error sums ``sums`` into the dict ``acc`` (floats); returns ``acc``."""
    for k, v in sums.items():
        acc[k] = acc.get(k, 0.0) + float(v)
    return acc


def split_sums(vector):
    """A :data:`SUM_NAMES` vector (the train step's device accumulator) -> ``(steps, loss sum, error sums)``."""
    v = np.asarray(vector, np.float64)
    return int(round(v[0])), float(v[1]), dict(zip(METRIC_NAMES, v[2:].tolist()))


def _ratio(a, b):
    return a / b if b > 0 else None


def _root(x):
    return None if x is None else math.sqrt(x)


def loss_of(sums, weights):
    """The loss of accumulated error sums: ``w_E`` x per-atom energy MSE + ``w_F`` x force MSE + ``w_S`` x stress
    MSE (terms without labels left out)."""
    we, wf, ws = weights
    loss = 0.0
    if we and sums["n_e"] > 0:
        loss += we * sums["e_pa_sq"] / sums["n_e"]
    if wf and sums["n_f"] > 0:
        loss += wf * sums["f_sq"] / sums["n_f"]
    if ws and sums["n_s"] > 0:
        loss += ws * sums["s_sq"] / sums["n_s"]
    return loss


def summarize(sums, weights=None):
    """MAE / RMSE (eV units; None without labels) and, with ``weights``, the loss from accumulated sums."""
    out = {"e_mae": _ratio(sums["e_abs"], sums["n_e"]), "e_rmse": _root(_ratio(sums["e_sq"], sums["n_e"])),
           "e_pa_mae": _ratio(sums["e_pa_abs"], sums["n_e"]),
           "e_pa_rmse": _root(_ratio(sums["e_pa_sq"], sums["n_e"])),
           "f_mae": _ratio(sums["f_abs"], sums["n_f"]), "f_rmse": _root(_ratio(sums["f_sq"], sums["n_f"])),
           "s_mae": _ratio(sums["s_abs"], sums["n_s"]), "s_rmse": _root(_ratio(sums["s_sq"], sums["n_s"]))}
    if weights is not None:
        out["loss"] = loss_of(sums, weights)
    return out


def in_mev(value):
    """``value`` (eV units) x 1000, None staying None."""
    return None if value is None else value * MEV


def history_row(epoch, lr, elapsed, train_loss, train, val):
    """One row of the run's history (``metrics.csv``): training and validation metrics in meV units, None for an
    absent or non-finite value."""
    row = {"epoch": epoch, "lr": lr, "wall_s": round(elapsed, 3), "train_loss": train_loss,
           "train_e_mae_meV": in_mev(train["e_mae"]), "train_e_per_atom_mae_meV": in_mev(train["e_pa_mae"]),
           "train_f_mae_meV_A": in_mev(train["f_mae"]), "train_f_rmse_meV_A": in_mev(train["f_rmse"]),
           "val_loss": val["loss"], "val_e_mae_meV": in_mev(val["e_mae"]), "val_e_rmse_meV": in_mev(val["e_rmse"]),
           "val_e_per_atom_mae_meV": in_mev(val["e_pa_mae"]), "val_f_mae_meV_A": in_mev(val["f_mae"]),
           "val_f_rmse_meV_A": in_mev(val["f_rmse"]), "val_s_mae_meV_A3": in_mev(val["s_mae"])}
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
