"""Export a trained NequIP model to MindIR: energy + forces (+ stress) for the buckets a user names or a dataset
needs, loadable without this package's Python model (``mindspore.load`` + ``nn.GraphCell``, MindSpore Lite).

Usage::

    mindchemistry-nequip deploy --checkpoint outputs/nequip/aspirin/best.ckpt --out exported/aspirin \\
        --data applications/nequip/datasets/aspirin_xtb_test.npz --batch-size 1
    mindchemistry-nequip deploy --checkpoint best.ckpt --out exported/cu --bucket 64x1024 --bucket 128x2048 --stress
    mindchemistry-nequip evaluate --model exported/aspirin --data applications/nequip/datasets/aspirin_xtb_test.npz

A MindIR graph is tied to its input shapes, so the export is a folder with one ``nequip_<atoms>x<edges>x<G>.mindir``
per bucket (``G`` = structures per batch + 1 padding structure) and ``model.json``: the format, the buckets and
their files, the batch size, whether the graphs return the stress, the input and output names (the fields of
:class:`~applications.nequip.model.inputs.ModelInputs`; outputs ``energy [G]``, ``forces [N, 3]``,
``stress [G, 3, 3]``), the species, cutoff, dtype, config and statistics of the model, and the MindSpore version.
``evaluate``, ``predict``, ``md`` and :class:`~applications.nequip.calculator.NequIPCalculator` take the folder
(``--model``) and pad each batch to the smallest exported bucket that holds it.
"""
import os
import shutil
import sys
import tempfile

__all__ = ["export_model", "dataset_buckets", "parse_bucket", "main"]


def parse_bucket(text):
    """``'64x1024'`` -> ``(64, 1024)`` (atoms incl. the padding atom, edges).

    >>> parse_bucket("64x1024")
    (64, 1024)
    """
    try:
        n, e = (int(x) for x in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"--bucket must be ATOMSxEDGES (e.g. 64x1024), got {text!r}") from None
    if n < 2 or e < 1:
        raise ValueError(f"--bucket needs at least 2 atoms (one is padding) and 1 edge, got {text!r}")
    return n, e


def dataset_buckets(frames, r_max, batch_size):
    """The ``32 * 2**k`` buckets ``(atoms, edges)`` that batches of ``batch_size`` consecutive frames need."""
    from applications.nequip.data import build_neighbors, round_up

    build_neighbors(frames, r_max, on_isolated="ignore")
    out = set()
    for k in range(0, len(frames), batch_size):
        chunk = frames[k:k + batch_size]
        out.add((round_up(sum(f.num_atoms for f in chunk) + 1), round_up(sum(f.num_edges for f in chunk))))
    return sorted(out)


def export_model(checkpoint, out, buckets, batch_size=1, stress=None, use_ema=True, force=False, log=print,
                 compute_dtype=None):
    """Export ``checkpoint`` to the folder ``out`` for ``buckets`` (``(atoms, edges)`` pairs); returns the metadata.

    Args:
        checkpoint (str): a training checkpoint.
        out (str): the export folder (written atomically: a temporary folder renamed at the end).
        buckets (list[tuple[int, int]]): padded sizes to export.
        batch_size (int): structures per batch of every graph.
        stress (bool, optional): also return the stress (default: when the checkpoint's training data was
            periodic).
        use_ema (bool): export the EMA weights (default) or the trained ones.
        force (bool): replace an existing export.
        compute_dtype (str, optional): ``"float32"``, ``"float16"`` or ``"bfloat16"``: the operand dtype of the
            exported model's products (default: the checkpoint's ``model.compute_dtype``).

    Raises:
        ValueError: a bad checkpoint, no buckets, or ``out`` exists (without ``force``).
    """
    import mindspore as ms

    from applications.nequip.data import padding_batch
    from applications.nequip.files import write_json
    from applications.nequip.inference import EXPORT_FORMAT, Predictor
    from applications.nequip.model import EnergyForceModel, MODEL_INPUTS, batch_inputs
    from mindchemistry_e3.util import native_kernels

    if not buckets:
        raise ValueError("deploy: no buckets to export; name some with --bucket ATOMSxEDGES or give --data FILE")
    if os.path.exists(out) and not force:
        raise ValueError(f"deploy: {out} exists (pass --force to replace it)")
    # no native CPU kernels in the graph: a MindIR must not depend on a shared library of this machine
    with native_kernels(False):
        predictor = Predictor.from_checkpoint(checkpoint, use_ema=use_ema, compute_dtype=compute_dtype)
    meta = predictor.checkpoint_meta
    if stress is None:
        stress = bool(meta.get("periodic", False))
    model = EnergyForceModel(predictor.net, compute_stress=bool(stress))
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-deploy-", dir=parent)
    try:
        entries = []
        for n, e in sorted(set(buckets)):
            name = f"nequip_{n}x{e}x{batch_size + 1}"
            log(f"exporting bucket ({n} atoms, {e} edges, {batch_size} structures)…")
            inputs = batch_inputs(padding_batch(n, e, batch_size, predictor.np_dtype), predictor.dtype, False)
            ms.export(model, *inputs, file_name=os.path.join(tmp, name), file_format="MINDIR")
            entries.append({"atoms": n, "edges": e, "file": name + ".mindir"})
        doc = {"format": EXPORT_FORMAT, "batch_size": int(batch_size), "stress": bool(stress), "buckets": entries,
               "inputs": list(MODEL_INPUTS), "outputs": ["energy", "forces"] + (["stress"] if stress else []),
               "species": predictor.species, "r_max": predictor.r_max, "dtype": predictor.dtype_name,
               "weights": "ema" if use_ema and meta.get("use_ema", True) else "trained",
               "checkpoint": os.path.abspath(checkpoint), "epoch": meta.get("epoch"),
               "config": {**meta["config"], "model": predictor.model_cfg},
               "stats": meta["stats"], "mindspore": ms.__version__}
        write_json(os.path.join(tmp, "model.json"), doc)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return doc


def main(argv=None, prog="python -m applications.nequip.deploy"):
    """``deploy --checkpoint CKPT --out DIR (--bucket NxE ... | --data FILE) [--batch-size B] [--stress]``."""
    from applications.nequip import cli

    parser = cli.Parser(prog=prog, description="Export a NequIP checkpoint to MindIR (energy, forces, stress).")
    parser.add_argument("--checkpoint", required=True, help="best.ckpt / last.ckpt of a training run")
    parser.add_argument("--out", required=True, help="export folder (model.json + one .mindir per bucket)")
    parser.add_argument("--bucket", action="append", default=[], metavar="ATOMSxEDGES",
                        help="a padded size to export, e.g. 64x1024 (repeatable)")
    parser.add_argument("--data", default=None, help="export the buckets this dataset needs")
    cli.add_dataset_options(parser, batch_size=1)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--stress", dest="stress", action="store_true", default=None,
                       help="also export the stress (default: when the training data was periodic)")
    group.add_argument("--no-stress", dest="stress", action="store_false")
    parser.add_argument("--no-ema", action="store_true", help="export the trained weights instead of their EMA")
    parser.add_argument("--force", action="store_true", help="replace an existing export")
    cli.add_compute_dtype(parser)
    cli.add_runtime_options(parser)

    def body(args):
        from applications.nequip.checkpoint import read_meta
        from applications.nequip.training.data import read_frames

        buckets = [parse_bucket(b) for b in args.bucket]
        if args.data is not None:
            meta = read_meta(args.checkpoint)
            frames = read_frames(args.data, {"format": args.format, "energy_unit": args.energy_unit,
                                             "length_unit": args.length_unit})
            buckets += dataset_buckets(frames, meta["config"]["model"]["r_max"], args.batch_size)
            if args.stress is None and any(f.pbc.any() for f in frames):
                args.stress = True
        doc = export_model(args.checkpoint, args.out, buckets, args.batch_size, args.stress, not args.no_ema,
                           args.force, log=lambda line: print(line, file=sys.stderr, flush=True),
                           compute_dtype=args.compute_dtype)
        print(f"wrote {args.out}: {len(doc['buckets'])} bucket(s) "
              + ", ".join(f"({b['atoms']}, {b['edges']})" for b in doc["buckets"])
              + f", batches of {doc['batch_size']}, outputs {', '.join(doc['outputs'])}")
        return 0

    return cli.run(parser, body, argv)


if __name__ == "__main__":
    sys.exit(main())
