"""Evaluate a trained NequIP checkpoint on a dataset file: energy and force MAE / RMSE.

Usage (from the repository root)::

    python -m applications.nequip.evaluate --checkpoint outputs/nequip/aspirin/best.ckpt \\
        --data applications/nequip/datasets/aspirin_xtb_test.npz

prints energy MAE / RMSE (meV per structure and meV/atom), force MAE / RMSE (meV/Å, over components) and, for
periodic data with stress, stress MAE / RMSE (meV/Å^3). ``--json FILE`` also writes them as JSON.
"""
import argparse
import json
import os
import sys

__all__ = ["evaluate", "main"]


def evaluate(checkpoint, data, fmt="auto", energy_unit=None, length_unit=None, batch_size=8, use_ema=True):
    """Errors of ``checkpoint`` on the dataset file ``data``; dict in meV, meV/atom, meV/Å, meV/Å^3.

    Raises:
        ValueError: bad checkpoint, unreadable data, unknown species.
    """
    from applications.nequip.inference import Predictor
    from applications.nequip.train import MEV, _add, error_sums, read_frames, summarize

    predictor = Predictor.from_checkpoint(checkpoint, use_ema=use_ema, batch_size=batch_size)
    frames = read_frames(data, {"format": fmt, "energy_unit": energy_unit, "length_unit": length_unit})
    has_stress = any(f.stress is not None for f in frames)
    acc = {}
    for batch, e, f, s in predictor.predict_batches(frames, stress=has_stress):
        _add(acc, error_sums(e, f, batch, s))
    res = summarize(acc)
    out = {"frames": len(frames), "atoms": int(sum(fr.num_atoms for fr in frames)),
           "energy_mae_meV": res["e_mae"] * MEV, "energy_rmse_meV": res["e_rmse"] * MEV,
           "energy_per_atom_mae_meV": res["e_pa_mae"] * MEV, "energy_per_atom_rmse_meV": res["e_pa_rmse"] * MEV,
           "force_mae_meV_A": res["f_mae"] * MEV, "force_rmse_meV_A": res["f_rmse"] * MEV}
    if has_stress:
        out.update(stress_mae_meV_A3=res["s_mae"] * MEV, stress_rmse_meV_A3=res["s_rmse"] * MEV)
    return out


def format_report(res, checkpoint, data):
    """Human-readable table of :func:`evaluate`'s result."""
    lines = [f"checkpoint: {checkpoint}", f"data:       {data} ({res['frames']} frames, {res['atoms']} atoms)",
             f"{'':22s}{'MAE':>12s}{'RMSE':>12s}",
             f"{'energy (meV)':22s}{res['energy_mae_meV']:12.3f}{res['energy_rmse_meV']:12.3f}",
             f"{'energy (meV/atom)':22s}{res['energy_per_atom_mae_meV']:12.3f}{res['energy_per_atom_rmse_meV']:12.3f}",
             f"{'forces (meV/Å)':22s}{res['force_mae_meV_A']:12.3f}{res['force_rmse_meV_A']:12.3f}"]
    if "stress_mae_meV_A3" in res:
        lines.append(f"{'stress (meV/Å^3)':22s}{res['stress_mae_meV_A3']:12.3f}{res['stress_rmse_meV_A3']:12.3f}")
    return "\n".join(lines)


def main(argv=None):
    """``python -m applications.nequip.evaluate --checkpoint CKPT --data FILE``."""
    parser = argparse.ArgumentParser(prog="python -m applications.nequip.evaluate",
                                     description="Energy and force errors of a NequIP checkpoint on a dataset.")
    parser.add_argument("--checkpoint", required=True, help="best.ckpt or last.ckpt of a training run")
    parser.add_argument("--data", required=True, help="dataset file (rMD17/sGDML/npz/extxyz)")
    parser.add_argument("--format", default="auto", help="auto, rmd17, sgdml, npz or extxyz")
    parser.add_argument("--energy-unit", default=None, help="energy unit of the file (default: the format's)")
    parser.add_argument("--length-unit", default=None, help="length unit of the file (default: Å)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA ones")
    parser.add_argument("--json", default=None, help="also write the result to this JSON file")
    args = parser.parse_args(argv)
    os.environ.setdefault("GLOG_v", "3")
    try:
        res = evaluate(args.checkpoint, args.data, args.format, args.energy_unit, args.length_unit,
                       args.batch_size, not args.no_ema)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_report(res, args.checkpoint, args.data))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
