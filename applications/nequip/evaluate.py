"""Evaluate a trained NequIP model (checkpoint or exported MindIR) on a dataset file: energy and force errors.

Usage::

    mindchemistry-nequip evaluate --checkpoint outputs/nequip/aspirin/best.ckpt \\
        --data applications/nequip/datasets/aspirin_xtb_test.npz [--json errors.json] [--device Ascend]
    mindchemistry-nequip evaluate --model exported/aspirin --data ...        # an export of deploy

prints energy MAE / RMSE (meV per structure and meV/atom), force MAE / RMSE (meV/Å, over components) and, for
periodic data with stress, stress MAE / RMSE (meV/Å^3); quantities without labels in the file are ``-`` (``null``
in the JSON).
"""
import sys

__all__ = ["evaluate", "format_report", "main"]


def evaluate(checkpoint=None, data=None, fmt="auto", energy_unit=None, length_unit=None, batch_size=8, use_ema=True,
             model=None, predictor=None):
    """Errors of a model (``checkpoint``, exported ``model`` or a ``predictor``) on the dataset file ``data``; a
    dict in meV, meV/atom, meV/Å, meV/Å^3 (None where the file has no labels).

    Raises:
        ValueError: bad checkpoint or export, unreadable data, unknown species.
    """
    from applications.nequip.inference import load_predictor
    from applications.nequip.training.data import read_frames
    from applications.nequip.training.metrics import accumulate, error_sums, in_mev, summarize

    if predictor is None:
        predictor = load_predictor(checkpoint, model, use_ema=use_ema, batch_size=batch_size)
    frames = read_frames(data, {"format": fmt, "energy_unit": energy_unit, "length_unit": length_unit})
    has_stress = any(f.stress is not None for f in frames)
    acc = {}
    for batch, e, f, s in predictor.predict_batches(frames, stress=has_stress and predictor.graphs.has_stress):
        accumulate(acc, error_sums(e, f, batch, s))
    res = summarize(acc)
    out = {"frames": len(frames), "atoms": int(sum(fr.num_atoms for fr in frames)),
           "energy_mae_meV": in_mev(res["e_mae"]), "energy_rmse_meV": in_mev(res["e_rmse"]),
           "energy_per_atom_mae_meV": in_mev(res["e_pa_mae"]), "energy_per_atom_rmse_meV": in_mev(res["e_pa_rmse"]),
           "force_mae_meV_A": in_mev(res["f_mae"]), "force_rmse_meV_A": in_mev(res["f_rmse"])}
    if has_stress:
        out.update(stress_mae_meV_A3=in_mev(res["s_mae"]), stress_rmse_meV_A3=in_mev(res["s_rmse"]))
    return out


def _cell(value):
    return f"{'-':>12s}" if value is None else f"{value:12.3f}"


def format_report(res, source, data):
    """Human-readable table of :func:`evaluate`'s result."""
    rows = [("energy (meV)", "energy_mae_meV", "energy_rmse_meV"),
            ("energy (meV/atom)", "energy_per_atom_mae_meV", "energy_per_atom_rmse_meV"),
            ("forces (meV/Å)", "force_mae_meV_A", "force_rmse_meV_A")]
    if "stress_mae_meV_A3" in res:
        rows.append(("stress (meV/Å^3)", "stress_mae_meV_A3", "stress_rmse_meV_A3"))
    lines = [f"model:      {source}", f"data:       {data} ({res['frames']} frames, {res['atoms']} atoms)",
             f"{'':22s}{'MAE':>12s}{'RMSE':>12s}"]
    lines += [f"{label:22s}{_cell(res[a])}{_cell(res[b])}" for label, a, b in rows]
    return "\n".join(lines)


def main(argv=None, prog="python -m applications.nequip.evaluate"):
    """``evaluate (--checkpoint CKPT | --model DIR) --data FILE [--json OUT]``."""
    from applications.nequip import cli

    parser = cli.Parser(prog=prog, description="Energy and force errors of a NequIP model on a dataset.")
    cli.add_inference_options(parser)
    parser.add_argument("--data", required=True, help="dataset file (rMD17/sGDML/npz/extxyz)")
    cli.add_dataset_options(parser)
    parser.add_argument("--json", default=None, help="also write the result to this JSON file")

    def body(args):
        from applications.nequip.files import write_json

        predictor = cli.load_model(args)
        res = evaluate(data=args.data, fmt=args.format, energy_unit=args.energy_unit,
                       length_unit=args.length_unit, predictor=predictor)
        print(format_report(res, args.checkpoint or args.model, args.data))
        if args.json:
            write_json(args.json, res)
        return 0

    return cli.run(parser, body, argv)


if __name__ == "__main__":
    sys.exit(main())
