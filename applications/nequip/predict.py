"""Predict energies, forces (and stress) of a dataset with a trained NequIP model; write extended XYZ.

Usage::

    mindchemistry-nequip predict --checkpoint outputs/nequip/aspirin/best.ckpt \\
        --data applications/nequip/datasets/aspirin_xtb_test.npz --out predictions.extxyz
    mindchemistry-nequip predict --model exported/aspirin --data ... --out predictions.extxyz

Every frame of the output carries the prediction as its calculator results (``energy`` in eV, ``forces`` in
eV/Å, ``stress`` in eV/Å^3 for periodic frames), readable with ``ase.io.read(path, ":")``; the reference labels
of the input, when present, are kept as ``ref_energy`` (info), ``ref_forces`` (per-atom array) and ``ref_stress``
(info, 3x3).
"""
import os
import sys

import numpy as np

__all__ = ["predict", "write_extxyz", "main"]


def predict(checkpoint=None, data=None, fmt="auto", energy_unit=None, length_unit=None, batch_size=8, use_ema=True,
            model=None, predictor=None):
    """``(frames, predictions)`` for a dataset file (see :meth:`Predictor.predict`)."""
    from applications.nequip.inference import load_predictor
    from applications.nequip.training.data import read_frames

    if predictor is None:
        predictor = load_predictor(checkpoint, model, use_ema=use_ema, batch_size=batch_size)
    frames = read_frames(data, {"format": fmt, "energy_unit": energy_unit, "length_unit": length_unit})
    return frames, predictor.predict(frames)


def write_extxyz(path, frames, predictions):
    """Write frames with predicted results as extended XYZ (atomically: temp file + rename)."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from applications.nequip.files import atomic_path

    images = []
    for frame, pred in zip(frames, predictions):
        atoms = frame.to_ase()
        if frame.energy is not None:
            atoms.info["ref_energy"] = frame.energy
        if frame.forces is not None:
            atoms.arrays["ref_forces"] = np.asarray(frame.forces, np.float64)
        if frame.stress is not None:
            atoms.info["ref_stress"] = np.asarray(frame.stress, np.float64)
        results = {"energy": pred["energy"], "forces": pred["forces"]}
        if "stress" in pred:
            s = pred["stress"]
            results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    with atomic_path(path, ".extxyz") as tmp:
        write(tmp, images, format="extxyz")


def main(argv=None, prog="python -m applications.nequip.predict"):
    """``predict (--checkpoint CKPT | --model DIR) --data FILE --out OUT.extxyz``."""
    from applications.nequip import cli

    parser = cli.Parser(prog=prog, description="Predict energies and forces with a NequIP model.")
    cli.add_inference_options(parser)
    parser.add_argument("--data", required=True, help="dataset file (rMD17/sGDML/npz/extxyz)")
    parser.add_argument("--out", required=True, help="output extended XYZ file")
    cli.add_dataset_options(parser)

    def body(args):
        if os.path.isdir(args.out):
            raise ValueError(f"--out {args.out} is a folder; give a file name (.extxyz)")
        frames, preds = predict(data=args.data, fmt=args.format, energy_unit=args.energy_unit,
                                length_unit=args.length_unit, predictor=cli.load_model(args))
        write_extxyz(args.out, frames, preds)
        print(f"wrote {len(preds)} frames to {args.out}")
        return 0

    return cli.run(parser, body, argv)


if __name__ == "__main__":
    sys.exit(main())
