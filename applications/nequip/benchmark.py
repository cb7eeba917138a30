"""Time the compiled NequIP train step (and the energy+forces evaluation graph) on a config's data.

Usage (one kernel thread, as the issue's reference figure)::

    OMP_NUM_THREADS=1 mindchemistry-nequip benchmark --config applications/nequip/configs/aspirin.yaml

Reports, as JSON, the compile time (first call) and the median time of the following calls, for the train step
(forward, forces, loss, second-order backward, optimizer, EMA, device-side metric sums) on the first training
batches and for the evaluation graph (energy and forces only). The compile cache is off unless
``--compile-cache DIR`` is given (then the first-call times are those of a warm or cold cache).
"""
import os
import sys
import tempfile
import time

import numpy as np

__all__ = ["benchmark", "main"]


def benchmark(cfg, steps=20, threads=1, compile_cache=None, device="CPU", sync_every_step=True):
    """Compile and median step times (s) of the train step and the evaluation graph of ``cfg``.

    ``sync_every_step``: read the loss back after every step (the training loop before its device-side metric
    sums did; False times the steps as the loop runs them now, reading once at the end).
    """
    import mindspore as ms

    from applications.nequip.compile_cache import PlanItem, compile_plan
    from applications.nequip.model import batch_inputs
    from applications.nequip.runtime import set_threads
    from applications.nequip.training import Trainer

    set_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, run_dir=os.path.join(tmp, "run"), log=lambda line: None)
        batches = []
        for batch in trainer.train_loader.epoch(0):
            batches.append(batch)
            if len(batches) > steps:
                break
        decay = ms.Tensor(0.99, trainer.dtype)
        plan = [PlanItem("train step", trainer.step, batch_inputs(batches[0], trainer.dtype) + (decay,)),
                PlanItem("evaluation", trainer.eval_model, batch_inputs(batches[0], trainer.dtype, False))]
        train_compile, eval_compile = compile_plan(plan, compile_cache, trainer.graph_settings(), device,
                                                   log=lambda line: None)["seconds"]
        times = []
        t_all = time.perf_counter()
        for batch in batches[1:]:
            inputs = batch_inputs(batch, trainer.dtype)
            t0 = time.perf_counter()
            loss, _ = trainer.step(*inputs, decay)
            if sync_every_step:
                loss.asnumpy()
            times.append(time.perf_counter() - t0)
        trainer.step.sums.asnumpy()
        wall = time.perf_counter() - t_all
        eval_times = []
        for batch in batches[1:]:
            inputs = batch_inputs(batch, trainer.dtype, labels=False)
            t0 = time.perf_counter()
            out = trainer.eval_model(*inputs)
            out[0].asnumpy()
            eval_times.append(time.perf_counter() - t0)
        params = sum(int(np.prod(p.shape)) for p in trainer.loss.trainable_params())
        return {"config": cfg["run_name"], "bucket": list(batches[0].bucket),
                "batch_size": cfg["training"]["batch_size"], "parameters": params, "threads": threads,
                "device": device, "compile_cache": compile_cache, "train_step_compile_s": train_compile,
                "train_step_median_s": float(np.median(times)), "train_steps_wall_s": wall,
                "eval_compile_s": eval_compile, "eval_median_s": float(np.median(eval_times)),
                "steps": len(times), "sync_every_step": sync_every_step}


def main(argv=None, prog="python -m applications.nequip.benchmark"):
    """``benchmark --config FILE [--steps N] [--threads T] [--set KEY=VALUE ...]``."""
    from applications.nequip import cli

    parser = cli.Parser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--steps", type=cli.number(integer=True, minimum=2), default=20,
                        help="timed steps (default 20)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE")
    parser.add_argument("--sync-every-step", action="store_true",
                        help="read the loss after every step (how the loop ran before the device-side sums)")
    cli.add_runtime_options(parser, threads_default=1)

    def body(args):
        from applications.nequip.config import load_config, parse_set
        from applications.nequip.files import dumps
        from applications.nequip.runtime import select_device

        cfg = load_config(args.config, parse_set(args.set))
        cfg["training"]["progress"] = False
        cache = None if args.compile_cache is None else cli.compile_cache_setting(args)
        print(dumps(benchmark(cfg, args.steps, args.threads, cache, select_device(None), args.sync_every_step)))
        return 0

    return cli.run(parser, body, argv)


if __name__ == "__main__":
    sys.exit(main())
