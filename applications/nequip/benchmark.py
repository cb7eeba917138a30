"""Time the compiled NequIP train step (and the energy+forces inference graph) on a config's data.

Usage (from the repository root; one kernel thread, as the issue's reference figure)::

    OMP_NUM_THREADS=1 python -m applications.nequip.benchmark --config applications/nequip/configs/aspirin.yaml

Reports the compile time (first call) and the median time of the following calls, for the train step
(forward, forces, loss, second-order backward, optimizer, EMA) on the first training batches and for the
evaluation graph (energy and forces only), as JSON.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

__all__ = ["benchmark", "main"]


def benchmark(cfg, steps=20, threads=1):
    """Compile and median step times (s) of the train step and the evaluation graph of ``cfg``."""
    import mindspore as ms

    from applications.nequip.train import Trainer, batch_inputs

    if threads:
        try:
            ms.device_context.cpu.op_tuning.threads_num(int(threads))
        except RuntimeError:
            pass
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, run_dir=tmp, log=lambda line: None)
        batches = []
        for batch in trainer.train_loader.epoch(0):
            batches.append(batch)
            if len(batches) > steps:
                break
        decay = ms.Tensor(0.99, trainer.dtype)
        times = []
        for batch in batches:
            inputs = batch_inputs(batch, trainer.dtype)
            t0 = time.perf_counter()
            loss, _ = trainer.step(*inputs, decay)
            loss.asnumpy()
            times.append(time.perf_counter() - t0)
        eval_times = []
        for batch in batches:
            inputs = batch_inputs(batch, trainer.dtype, labels=False)
            t0 = time.perf_counter()
            out = trainer.eval_model(*inputs)
            out[0].asnumpy()
            eval_times.append(time.perf_counter() - t0)
        params = sum(int(np.prod(p.shape)) for p in trainer.loss.trainable_params())
        return {"config": cfg["run_name"], "bucket": list(batches[0].bucket), "batch_size": cfg["training"]["batch_size"],
                "parameters": params, "threads": threads,
                "train_step_compile_s": times[0], "train_step_median_s": float(np.median(times[1:])),
                "eval_compile_s": eval_times[0], "eval_median_s": float(np.median(eval_times[1:])),
                "steps": len(times) - 1}


def main(argv=None):
    """``python -m applications.nequip.benchmark --config FILE [--steps N] [--threads T]``."""
    from applications.nequip.config import load_config, parse_set

    parser = argparse.ArgumentParser(prog="python -m applications.nequip.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    os.environ.setdefault("GLOG_v", "3")
    cfg = load_config(args.config, parse_set(args.set))
    cfg["training"]["progress"] = False
    print(json.dumps(benchmark(cfg, args.steps, args.threads), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
