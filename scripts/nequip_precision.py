"""Mixed precision of the NequIP application against float32, measured (issue 12 item 2's targets).

1. **Inference**: a float32-trained checkpoint (default: the shipped pretrained aspirin model) on a dataset
   (default: the shipped aspirin test set), evaluated with ``compute_dtype`` float32, float16 and bfloat16
   (bfloat16 is emulated on CPU: operands rounded to bfloat16, products in float32). Per compute dtype: the
   deviation from float32 of the energies (meV/atom: max and mean absolute) and of the forces (meV/Å: RMS and max
   absolute), and the errors against the labels.
2. **Training** (optional, ``--runs A B ...``): the validation force MAE of finished runs (their ``metrics.csv``)
   at ``--epoch``, each against the first run, and the float16 steps skipped on overflow (from ``log.txt``).

    python scripts/nequip_precision.py --json outputs/precision.json
    python scripts/nequip_precision.py --skip-inference --runs outputs/nequip/fp32_20 outputs/nequip/fp16_20

Targets: float16 force RMS deviation <= 2 meV/Å and energy deviation <= 0.5 meV/atom; float16-mixed training
within 10 % of float32's validation force MAE at epoch 20.
"""
import argparse
import csv
import json
import os
import re
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DEFAULT_MODEL = os.path.join(ROOT, "applications", "nequip", "pretrained", "aspirin", "model.ckpt")
DEFAULT_DATA = os.path.join(ROOT, "applications", "nequip", "datasets", "aspirin_xtb_test.npz")


def predictions(checkpoint, frames, compute_dtype, batch_size):
    """Energies ``[F]`` (eV), forces (concatenated ``[sum n, 3]``, eV/Å) and the seconds it took (compile included)."""
    from applications.nequip.inference import Predictor

    t0 = time.perf_counter()
    predictor = Predictor.from_checkpoint(checkpoint, batch_size=batch_size, compute_dtype=compute_dtype)
    out = predictor.predict(frames)
    energy = np.array([r["energy"] for r in out], np.float64)
    forces = np.concatenate([np.asarray(r["forces"], np.float64) for r in out])
    return energy, forces, time.perf_counter() - t0


def compare(ref, other, atoms, labels):
    """Deviations of ``other`` from ``ref`` and errors of ``other`` against ``labels`` (meV, meV/atom, meV/Å)."""
    de = (other[0] - ref[0]) / atoms * 1e3
    df = (other[1] - ref[1]) * 1e3
    out = {"energy_dev_max_meV_per_atom": float(np.abs(de).max()),
           "energy_dev_mean_meV_per_atom": float(np.abs(de).mean()),
           "force_dev_rms_meV_A": float(np.sqrt((df ** 2).mean())), "force_dev_max_meV_A": float(np.abs(df).max()),
           "seconds": other[2]}
    if labels is not None:
        out["energy_mae_meV_per_atom"] = float(np.abs((other[0] - labels[0]) / atoms).mean() * 1e3)
        out["force_mae_meV_A"] = float(np.abs(other[1] - labels[1]).mean() * 1e3)
    return out


def inference(checkpoint, data, batch_size, dtypes):
    """Section 1 of the module doc."""
    from applications.nequip.training.data import read_frames

    frames = read_frames(data, {"format": "auto", "energy_unit": None, "length_unit": None})
    atoms = np.array([f.num_atoms for f in frames], np.float64)
    labels = None
    if all(f.energy is not None and f.forces is not None for f in frames):
        labels = (np.array([f.energy for f in frames], np.float64),
                  np.concatenate([np.asarray(f.forces, np.float64) for f in frames]))
    ref = predictions(checkpoint, frames, "float32", batch_size)
    result = {"checkpoint": os.path.relpath(checkpoint, ROOT), "data": os.path.relpath(data, ROOT),
              "frames": len(frames), "float32": compare(ref, ref, atoms, labels)}
    for name in dtypes:
        result[name] = compare(ref, predictions(checkpoint, frames, name, batch_size), atoms, labels)
    return result


def run_metrics(run_dir, epoch):
    """Validation force MAE of ``run_dir`` at ``epoch`` and the float16 steps skipped on overflow."""
    with open(os.path.join(run_dir, "metrics.csv"), encoding="utf-8") as fh:
        rows = {int(r["epoch"]): r for r in csv.DictReader(fh)}
    if epoch not in rows:
        raise ValueError(f"{run_dir}: no epoch {epoch} in metrics.csv (last: {max(rows)})")
    skipped = None
    log = os.path.join(run_dir, "log.txt")
    if os.path.isfile(log):
        with open(log, encoding="utf-8") as fh:
            counts = re.findall(r"\((\d+) in all\)", fh.read())
        skipped = int(counts[-1]) if counts else None
    return {"run": run_dir, "val_f_mae_meV_A": float(rows[epoch]["val_f_mae_meV_A"]),
            "val_e_per_atom_mae_meV": float(rows[epoch]["val_e_per_atom_mae_meV"]), "skipped_steps": skipped}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--checkpoint", default=DEFAULT_MODEL, help="a float32-trained checkpoint")
    parser.add_argument("--data", default=DEFAULT_DATA, help="dataset with energies and forces")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dtypes", nargs="+", default=["float16", "bfloat16"], choices=("float16", "bfloat16"))
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument("--runs", nargs="*", default=[], help="training run folders; the first is the reference")
    parser.add_argument("--epoch", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)

    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.device_context.cpu.op_tuning.threads_num(1)
    os.environ.setdefault("NEQUIP_COMPILE_CACHE", "off")
    result = {}
    if not args.skip_inference:
        result["inference"] = inference(args.checkpoint, args.data, args.batch_size, args.dtypes)
        for name, row in result["inference"].items():
            if isinstance(row, dict):
                print(f"{name:9s} energy dev max {row['energy_dev_max_meV_per_atom']:.4f} (mean "
                      f"{row['energy_dev_mean_meV_per_atom']:.4f}) meV/atom | force dev RMS "
                      f"{row['force_dev_rms_meV_A']:.4f} (max {row['force_dev_max_meV_A']:.3f}) meV/Å | "
                      f"F MAE {row.get('force_mae_meV_A', float('nan')):.3f} meV/Å | {row['seconds']:.1f} s")
    if args.runs:
        runs = [run_metrics(r, args.epoch) for r in args.runs]
        ref = runs[0]["val_f_mae_meV_A"]
        for r in runs:
            r["relative_to_first"] = r["val_f_mae_meV_A"] / ref - 1.0
            print(f"{r['run']}: epoch {args.epoch} val F MAE {r['val_f_mae_meV_A']:.3f} meV/Å "
                  f"({100 * r['relative_to_first']:+.1f} % vs the first), skipped steps {r['skipped_steps']}")
        result["training"] = {"epoch": args.epoch, "runs": runs}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
