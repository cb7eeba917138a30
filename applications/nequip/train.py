"""Train a NequIP potential on energies and forces (and stress), in MindSpore graph mode.

Usage (from any folder once installed; paths in a config are relative to the config file)::

    mindchemistry-nequip train --config applications/nequip/configs/aspirin.yaml
    mindchemistry-nequip train --config applications/nequip/configs/aspirin.yaml --resume        # or --resume best
    mindchemistry-nequip train --config ... --set training.max_epochs=5 --set model.l_max=2 --device Ascend

(``python -m applications.nequip.train ...`` from the repository root is the same.) What a run does:

* reads and checks ``data.train_file`` (rMD17 / sGDML / npz / extxyz, converted to eV and Å; non-finite values,
  bad shapes and units refused, naming the file and frame), splits it into training and validation frames
  (seeded), reads ``data.test_file``, builds the neighbour lists and pads batches to fixed buckets; a set without
  forces trains on energies (a notice says so);
* fits the data statistics on the training frames and builds the model;
* creates the run folder ``<out_dir>/<run_name>/`` with the resolved ``config.yaml`` (nothing is written when
  anything above fails: one ``error:`` line, exit status 2), prints the model block by block, and compiles every
  graph the run needs, through the compile cache (a warm cache starts in seconds);
* trains with one compiled ``nn.Cell`` per step (forward, forces = -dE/dr, loss, second-order backward,
  Adam/AMSGrad, EMA of the weights, metric sums kept on the device), evaluates the EMA weights on the validation
  set after every epoch, reduces the learning rate on plateaus and stops early;
* writes ``last.ckpt`` every epoch and ``best.ckpt`` on improvement (MindSpore checkpoints, atomic writes),
  ``metrics.csv``, ``loss_curves.png``, ``force_parity.png``, ``timing.json``, ``final_metrics.json`` and
  ``log.txt``;
* on SIGINT / SIGTERM finishes the current step, writes ``last.ckpt`` (mid-epoch), prints the resume command and
  exits with 130 / 143; ``--resume`` then continues exactly as an uninterrupted run.

The pieces live in :mod:`applications.nequip.training`; this module is the command line.
"""
import sys

from applications.nequip.training import (CosineAnnealing, Progress, ReduceLROnPlateau, Trainer,  # noqa: F401
                                          TrainingDiverged)
from applications.nequip.training.data import read_frames  # noqa: F401  (used by evaluate, predict and tests)
from applications.nequip.training.metrics import MEV, error_sums, summarize  # noqa: F401

__all__ = ["Trainer", "main", "batch_inputs", "read_frames"]


def batch_inputs(batch, dtype=None, labels=True):
    """The flat Tensor arguments of the model (and loss) for a padded batch
    (:func:`applications.nequip.model.inputs.batch_inputs`)."""
    from applications.nequip.model.inputs import batch_inputs as inputs

    return inputs(batch, dtype, labels)


def main(argv=None, prog="python -m applications.nequip.train"):
    """Command-line entry point: ``train --config FILE [--resume [last|best]] [--set KEY=VALUE ...]``."""
    from applications.nequip import cli

    parser = cli.Parser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="YAML config (see applications/nequip/configs)")
    parser.add_argument("--resume", nargs="?", const="last", default=None, choices=("last", "best"),
                        help="continue the run from its last.ckpt (or best.ckpt with '--resume best')")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config entry, e.g. --set training.max_epochs=5 (repeatable)")
    cli.add_runtime_options(parser)

    def body(args):
        from applications.nequip.config import load_config, parse_set
        from applications.nequip.distributed import from_environment
        from applications.nequip.files import dumps
        from applications.nequip.runtime import select_device

        distributed = from_environment()   # data parallel under msrun (see applications/nequip/distributed.py)
        cfg = load_config(args.config, parse_set(args.set))
        # under msrun the compile cache stays off: its graphs hold collectives, a case not tested here
        cache = None if distributed.enabled else cli.compile_cache_setting(args)
        trainer = Trainer(cfg, resume=args.resume, distributed=distributed, compile_cache=cache,
                          device=select_device(None))
        try:
            summary = trainer.train()
        except TrainingDiverged as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(dumps({k: v for k, v in summary.items() if k != "timing"}))
        return 0

    return cli.run(parser, body, argv)


if __name__ == "__main__":
    sys.exit(main())
