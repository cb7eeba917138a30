"""The command line of the NequIP application: ``mindchemistry-nequip <command> ...`` and the pieces every command
shares (one place for the options, their checks and how errors end a command).

Commands: ``train``, ``evaluate``, ``predict``, ``md``, ``deploy``, ``benchmark``, ``convert`` (each is also
``python -m applications.nequip.<command>``). Conventions of every command:

* a refused input (bad option, config, dataset, checkpoint) prints **one** line ``error: ...`` on stderr and
  exits with status 2, leaving no output folder behind;
* numbers are checked with one wording: ``argument --temperature: must be a number >= 0, got -5``;
* ``--device CPU|Ascend|GPU`` (default: MindSpore's), ``--threads N`` (CPU kernel threads) and the compile cache
  options (``--compile-cache DIR``, ``--no-compile-cache``; see :mod:`applications.nequip.compile_cache`) are
  added by :func:`add_runtime_options` and applied by :func:`run`;
* SIGINT / SIGTERM during training save the run and exit with 130 / 143 (see
  :mod:`applications.nequip.training.interrupt`).

>>> p = Parser(prog="demo")
>>> _ = p.add_argument("--dt", type=number(minimum=0, strict=True))
>>> p.parse_args(["--dt", "0.5"]).dt
0.5
"""
import argparse
import importlib
import os
import sys

from applications.nequip.checks import check_number, describe

__all__ = ["Parser", "number", "add_runtime_options", "add_model_source", "add_compute_dtype", "add_dataset_options",
           "add_inference_options", "load_model", "compile_cache_setting", "run", "COMMANDS", "main"]

#: command -> module with a ``main(argv, prog=None)``
COMMANDS = {
    "train": "applications.nequip.train",
    "evaluate": "applications.nequip.evaluate",
    "predict": "applications.nequip.predict",
    "md": "applications.nequip.md",
    "deploy": "applications.nequip.deploy",
    "benchmark": "applications.nequip.benchmark",
    "convert": "applications.nequip.checkpoint",
}

DEVICES = ("CPU", "Ascend", "GPU")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one ``error: ...`` line and exit status 2 (no usage dump)."""

    def error(self, message):
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def number(integer=False, minimum=None, strict=False, maximum=None, strict_max=False):
    """An argparse ``type=`` for a number within bounds, worded like config errors
    (:func:`applications.nequip.checks.check_number`)."""
    def parse(text):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = text
        try:
            return check_number(value, "", integer=integer, minimum=minimum, strict=strict, maximum=maximum,
                                strict_max=strict_max)
        except ValueError:
            kind = describe(integer, minimum, strict, maximum, strict_max)
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text}") from None
    parse.__name__ = "integer" if integer else "number"
    return parse


def _device(text):
    for d in DEVICES:
        if text.lower() == d.lower():
            return d
    raise argparse.ArgumentTypeError(f"must be one of {', '.join(DEVICES)}, got {text!r}")


def add_runtime_options(parser, threads_default=None):
    """``--device``, ``--threads`` and the compile cache options."""
    parser.add_argument("--device", type=_device, default=None,
                        help="CPU, Ascend or GPU (default: MindSpore's default device)")
    parser.add_argument("--threads", type=number(integer=True, minimum=1), default=threads_default,
                        help="CPU kernel threads (default: " + ("MindSpore's" if threads_default is None
                                                                 else str(threads_default)) + ")")
    parser.add_argument("--compile-cache", default=None, metavar="DIR",
                        help="compile cache folder (default: $NEQUIP_COMPILE_CACHE or "
                             "~/.cache/mindchemistry_e3/compile; 'off' disables it)")
    parser.add_argument("--no-compile-cache", action="store_true", help="compile every graph afresh")


def add_model_source(parser):
    """``--checkpoint CKPT`` or ``--model PATH`` (an exported MindIR model, see ``deploy``): exactly one."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--checkpoint", help="best.ckpt / last.ckpt of a training run")
    group.add_argument("--model", help="an exported model (the folder or the model.json written by deploy)")
    parser.add_argument("--no-ema", action="store_true", help="use the trained weights instead of their EMA "
                                                              "(checkpoints only)")
    add_compute_dtype(parser)


def add_compute_dtype(parser):
    """``--compute-dtype float32|float16|bfloat16``: the MatMul operand dtype of a checkpoint's model."""
    parser.add_argument("--compute-dtype", default=None, choices=("float32", "float16", "bfloat16"),
                        help="run the model's products with float16 / bfloat16 operands (sums, energies and "
                             "forces stay float32; bfloat16 is emulated on CPU), or float32; default: the "
                             "checkpoint's model.compute_dtype (checkpoints only)")


def add_dataset_options(parser, batch_size=8):
    """``--format``, ``--energy-unit``, ``--length-unit``, ``--batch-size`` of a dataset file."""
    from applications.nequip.registry import reader_names

    parser.add_argument("--format", default="auto", choices=reader_names(), help="file format (default: auto)")
    parser.add_argument("--energy-unit", default=None, help="energy unit of the file (default: the format's)")
    parser.add_argument("--length-unit", default=None, help="length unit of the file (default: Å)")
    parser.add_argument("--batch-size", type=number(integer=True, minimum=1), default=batch_size,
                        help=f"structures per evaluated batch (default {batch_size})")


def add_inference_options(parser):
    """Everything a command that runs a trained model shares: model source and runtime options."""
    add_model_source(parser)
    add_runtime_options(parser)


def load_model(args):
    """The :class:`~applications.nequip.inference.Predictor` of ``--checkpoint`` / ``--model`` (with
    ``--batch-size``, ``--no-ema``, the compile cache and the device); compile messages go to stderr."""
    from applications.nequip.inference import load_predictor
    from applications.nequip.runtime import select_device

    if args.model is not None and args.no_ema:
        raise ValueError("--no-ema applies to checkpoints; an exported model holds the weights it was exported with")
    if args.model is not None and args.compute_dtype is not None:
        raise ValueError("--compute-dtype applies to checkpoints; an exported model keeps the precision it was "
                         "exported with (deploy --compute-dtype)")
    return load_predictor(args.checkpoint, args.model, use_ema=not args.no_ema, compute_dtype=args.compute_dtype,
                          batch_size=getattr(args, "batch_size", 8), compile_cache=compile_cache_setting(args),
                          device=select_device(None), log=lambda line: print(line, file=sys.stderr, flush=True))


def compile_cache_setting(args):
    """The compile cache folder the options ask for (None: off)."""
    from applications.nequip.compile_cache import resolve_root

    if getattr(args, "no_compile_cache", False):
        return None
    return resolve_root(getattr(args, "compile_cache", None))


def setup_runtime(args):
    """Apply ``--device`` and ``--threads`` (graph mode, quiet logs)."""
    from applications.nequip.runtime import setup

    setup(device=getattr(args, "device", None), threads=getattr(args, "threads", None))


def run(parser, body, argv=None):
    """Parse ``argv``, set up the runtime, run ``body(args)`` and turn refusals into ``error:`` + status 2.

    ``body`` returns the exit status. ``ValueError`` and ``FileNotFoundError`` are refusals (status 2);
    :class:`applications.nequip.training.interrupt.Interrupted` ends with its conventional status (130 / 143).
    """
    from applications.nequip.training.interrupt import Interrupted

    args = parser.parse_args(argv)
    os.environ.setdefault("GLOG_v", "3")
    try:
        setup_runtime(args)
        return body(args)
    except (ValueError, FileNotFoundError) as err:
        text = str(err).strip().replace("\n", " ") or type(err).__name__
        print(f"error: {text}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        return stop.exit_code


def main(argv=None):
    """``mindchemistry-nequip <command> [options]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: mindchemistry-nequip {" + ",".join(COMMANDS) + "} [options]\n\n"
              "NequIP interatomic potentials on MindSpore. Run 'mindchemistry-nequip <command> --help'.")
        return 0 if argv else 2
    command = argv[0]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command])
    return module.main(argv[1:], prog=f"mindchemistry-nequip {command}")


if __name__ == "__main__":
    sys.exit(main())
