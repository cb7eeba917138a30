"""Predict energies, forces (and stress) of a dataset with a trained NequIP checkpoint; write extended XYZ.

Usage (from the repository root)::

    python -m applications.nequip.predict --checkpoint outputs/nequip/aspirin/best.ckpt \\
        --data applications/nequip/datasets/aspirin_xtb_test.npz --out predictions.extxyz

Every frame of the output carries the prediction as its calculator results (``energy`` in eV, ``forces`` in
eV/Å, ``stress`` in eV/Å^3 for periodic frames), readable with ``ase.io.read(path, ":")``; the reference labels
of the input, when present, are kept as ``ref_energy`` (info) and ``ref_forces`` (per-atom array).
"""
import argparse
import os
import sys

import numpy as np

__all__ = ["predict", "write_extxyz", "main"]


def predict(checkpoint, data, fmt="auto", energy_unit=None, length_unit=None, batch_size=8, use_ema=True):
    """``(frames, predictions)`` for a dataset file (see :meth:`Predictor.predict`)."""
    from applications.nequip.inference import Predictor
    from applications.nequip.train import read_frames

    predictor = Predictor.from_checkpoint(checkpoint, use_ema=use_ema, batch_size=batch_size)
    frames = read_frames(data, {"format": fmt, "energy_unit": energy_unit, "length_unit": length_unit})
    return frames, predictor.predict(frames)


def write_extxyz(path, frames, predictions):
    """Write frames with predicted results as extended XYZ (atomically: temp file + rename)."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    images = []
    for frame, pred in zip(frames, predictions):
        atoms = frame.to_ase()
        if frame.energy is not None:
            atoms.info["ref_energy"] = frame.energy
        if frame.forces is not None:
            atoms.arrays["ref_forces"] = np.asarray(frame.forces, np.float64)
        results = {"energy": pred["energy"], "forces": pred["forces"]}
        if "stress" in pred:
            s = pred["stress"]
            results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    write(tmp, images, format="extxyz")
    os.replace(tmp, path)


def main(argv=None):
    """``python -m applications.nequip.predict --checkpoint CKPT --data FILE --out OUT.extxyz``."""
    parser = argparse.ArgumentParser(prog="python -m applications.nequip.predict",
                                     description="Predict energies and forces with a NequIP checkpoint.")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="dataset file (rMD17/sGDML/npz/extxyz)")
    parser.add_argument("--out", required=True, help="output extended XYZ file")
    parser.add_argument("--format", default="auto")
    parser.add_argument("--energy-unit", default=None)
    parser.add_argument("--length-unit", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA ones")
    args = parser.parse_args(argv)
    os.environ.setdefault("GLOG_v", "3")
    try:
        frames, preds = predict(args.checkpoint, args.data, args.format, args.energy_unit, args.length_unit,
                                args.batch_size, not args.no_ema)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_extxyz(args.out, frames, preds)
    print(f"wrote {len(preds)} frames to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
