"""Our NequIP train step side by side with the reference NequIP package (PyTorch) on the same data and model.

Usage (repository root; the reference runs in its own venv, never needed by the project)::

    python -m venv /work/nequip-venv
    /work/nequip-venv/bin/pip install torch==2.13.0
    /work/nequip-venv/bin/pip install "nequip==0.6.2" "numpy<2.4"    # nequip 0.6.2 calls np.in1d
    python scripts/bench_nequip_reference.py --reference-python /work/nequip-venv/bin/python

Both sides train the model of ``--config`` (default ``applications/nequip/configs/aspirin.yaml``: l_max 1,
32 features, 3 layers, r_max 4 Å) on its training file, with batches of ``--batch-size`` structures (default 5, the
issue's reference figure), one kernel thread, pinned to the same core (``--core``), Adam/AMSGrad and the EMA of
the weights: a step is forward, forces = -dE/dr, per-atom energy + force loss, backward, optimizer and EMA. The
sides run alternately for ``--rounds`` rounds (each a fresh process: compile / warm-up, then ``--steps`` timed
steps); a side's figure is the median over its rounds of the per-round medians. Printed: wall time and CPU time
(the process's, which a loaded machine distorts less than the wall clock) per step, our compile time, and the
ratio reference / ours (> 1: we are faster). Without ``--reference-python`` only our side runs.

This file is also the worker of each side (``--worker ours|reference SPEC.json``); the reference worker imports
only the standard library, numpy, torch and nequip.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(REPO, "applications", "nequip", "configs", "aspirin.yaml")


def _timed(step, items):
    """Wall and CPU seconds of ``step(item)`` for each item."""
    wall, cpu = [], []
    for item in items:
        t0, c0 = time.perf_counter(), time.process_time()
        step(item)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


# ------------------------------------------------------------------------------------------------ workers
def worker_ours(spec):
    """Compile, then time ``spec['steps']`` train steps of our compiled train step."""
    os.environ.setdefault("GLOG_v", "3")
    sys.path.insert(0, REPO)
    import mindspore as ms

    ms.device_context.cpu.op_tuning.threads_num(1)
    from applications.nequip.config import load_config
    from applications.nequip.train import Trainer, batch_inputs

    cfg = load_config(spec["config"], {"training": {"batch_size": spec["batch_size"], "progress": False}})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, run_dir=tmp, log=lambda line: None)
        batches = []
        for batch in trainer.train_loader.epoch(0):
            batches.append(batch_inputs(batch, trainer.dtype))
            if len(batches) > spec["steps"]:
                break
        decay = ms.Tensor(0.99, trainer.dtype)
        wall, cpu = _timed(lambda args: trainer.step(*args, decay)[0].asnumpy(), batches)
    return {"compile_wall_s": wall[0], "compile_cpu_s": cpu[0], "wall": wall[1:], "cpu": cpu[1:]}


def _reference_yaml(spec, root):
    """The reference NequIP config of our model (NequIP 0.6 key names), data converted to eV in ``root``."""
    m = spec["model"]
    lines = [
        f"root: {root}", "run_name: bench", "seed: 123", "dataset_seed: 456", "default_dtype: float32",
        "model_dtype: float32", "allow_tf32: false", "device: cpu", "append: false",
        f"r_max: {m['r_max']}", f"num_layers: {m['num_layers']}", f"l_max: {m['l_max']}",
        f"parity: {str(bool(m['parity'])).lower()}", f"num_features: {m['num_features']}",
        "nonlinearity_type: gate", f"resnet: {str(bool(m['resnet'])).lower()}",
        f"nonlinearity_scalars: {json.dumps(m['nonlinearity_scalars'])}",
        f"nonlinearity_gates: {json.dumps(m['nonlinearity_gates'])}",
        f"num_basis: {m['num_basis']}", f"BesselBasis_trainable: {str(bool(m['trainable_bessel'])).lower()}",
        f"PolynomialCutoff_p: {m['cutoff_p']}", f"invariant_layers: {m['radial_mlp_layers']}",
        f"invariant_neurons: {m['radial_mlp_neurons']}", "avg_num_neighbors: auto", "use_sc: true",
        "dataset: npz", f"dataset_file_name: {os.path.join(root, 'data_eV.npz')}",
        "key_mapping: {z: atomic_numbers, E: total_energy, F: forces, R: pos}",
        "npz_fixed_field_keys: [atomic_numbers]", f"chemical_symbols: {json.dumps(spec['symbols'])}",
        "wandb: false", "verbose: warning", "log_batch_freq: 1000000", "save_checkpoint_freq: -1",
        "save_ema_checkpoint_freq: -1", f"n_train: {spec['n_train']}", f"n_val: {spec['n_val']}",
        f"learning_rate: {spec['learning_rate']}", f"batch_size: {spec['batch_size']}", "max_epochs: 1",
        "shuffle: true", "use_ema: true", f"ema_decay: {spec['ema_decay']}", "ema_use_num_updates: true",
        "loss_coeffs: {forces: 1, total_energy: [1, PerAtomMSELoss]}",
        "metrics_components: [[forces, mae]]", "optimizer_name: Adam", "optimizer_amsgrad: true",
        "lr_scheduler_name: none",
    ]
    return "\n".join(lines) + "\n"


def worker_reference(spec):
    """Build the reference trainer as ``nequip-train`` does, then time ``Trainer.batch_step``."""
    data = np.load(spec["data_file"])
    kcal = 0.04336410390059322  # eV per kcal/mol (the rMD17 unit of our datasets)
    with tempfile.TemporaryDirectory() as root:
        np.savez(os.path.join(root, "data_eV.npz"), z=data["nuclear_charges"].astype(np.int64),
                 R=data["coords"].astype(np.float64), E=data["energies"] * kcal, F=data["forces"] * kcal)
        path = os.path.join(root, "bench.yaml")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(_reference_yaml(spec, root))
        import torch
        from nequip.scripts.train import default_config, fresh_start
        from nequip.utils import Config

        torch.set_num_threads(1)
        trainer = fresh_start(Config.from_file(path, defaults=default_config))
        trainer.init()
        trainer.init_metrics()
        trainer.iepoch = 0
        trainer.dl_train_sampler.step_epoch(0)
        batches = []
        for batch in trainer.dl_train:
            batches.append(batch)
            if len(batches) > spec["steps"] + spec["warmup"]:
                break
        wall, cpu = _timed(trainer.batch_step, batches)
        import nequip

    n = spec["warmup"] + 1
    return {"version": f"nequip {nequip.__version__}, torch {torch.__version__}",
            "compile_wall_s": sum(wall[:n]), "compile_cpu_s": sum(cpu[:n]), "wall": wall[n:], "cpu": cpu[n:]}


# ------------------------------------------------------------------------------------------------ driver
def _run_side(python, side, spec, core):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
        spec_path = fh.name
    # nequip 0.6 reloads its processed dataset with torch.load, which torch >= 2.6 refuses by default
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GLOG_v="3",
               TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    cmd = [python, os.path.abspath(__file__), "--worker", side, spec_path]
    if core is not None:
        cmd = ["taskset", "-c", str(core)] + cmd
    try:
        out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    finally:
        os.unlink(spec_path)
    if out.returncode != 0:
        raise RuntimeError(f"{side} worker failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(rounds):
    return {"wall_ms": 1e3 * statistics.median(statistics.median(r["wall"]) for r in rounds),
            "cpu_ms": 1e3 * statistics.median(statistics.median(r["cpu"]) for r in rounds),
            "compile_wall_s": statistics.median(r["compile_wall_s"] for r in rounds),
            "compile_cpu_s": statistics.median(r["compile_cpu_s"] for r in rounds),
            "rounds": len(rounds), "steps": len(rounds[0]["wall"])}


def main(argv=None):
    """Run both sides alternately and print the table (and ``--out`` JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--reference-python", help="python of a venv with the reference nequip package")
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10, help="reference steps not timed (PyTorch warm-up)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--core", type=int, default=0, help="CPU core both sides are pinned to (-1: none)")
    parser.add_argument("--out")
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        with open(args.worker[1], encoding="utf-8") as fh:
            spec = json.load(fh)
        result = worker_ours(spec) if args.worker[0] == "ours" else worker_reference(spec)
        print(json.dumps(result))
        return 0

    sys.path.insert(0, REPO)
    from applications.nequip.config import load_config
    from applications.nequip.data import symbol

    cfg = load_config(args.config)
    data_file = cfg["data"]["train_file"]
    if not os.path.isabs(data_file):
        data_file = os.path.join(REPO, data_file)
    data = np.load(data_file)
    if "nuclear_charges" not in data.files:  # both sides read the rMD17 keys of this one file
        raise SystemExit(f"bench_nequip_reference: {data_file} must be an rMD17-layout npz (kcal/mol, Å)")
    species = sorted({int(z) for z in data["nuclear_charges"]})
    spec = {"config": args.config, "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
            "model": cfg["model"], "data_file": data_file, "symbols": [symbol(z) for z in species],
            "n_train": cfg["data"]["n_train"], "n_val": cfg["data"]["n_val"],
            "learning_rate": cfg["training"]["learning_rate"], "ema_decay": cfg["training"]["ema_decay"]}
    core = None if args.core < 0 else args.core
    sides = [("ours", sys.executable)] + ([("reference", args.reference_python)] if args.reference_python else [])
    results = {side: [] for side, _ in sides}
    for r in range(args.rounds):
        for side, python in sides:
            results[side].append(_run_side(python, side, spec, core))
            last = results[side][-1]
            print(f"round {r + 1}/{args.rounds} {side}: median step {1e3 * statistics.median(last['wall']):.1f} ms "
                  f"wall, {1e3 * statistics.median(last['cpu']):.1f} ms CPU", flush=True)
    table = {side: _summary(rs) for side, rs in results.items()}
    if "reference" in results:
        table["reference"]["version"] = results["reference"][0]["version"]
    print(f"\nNequIP train step, batch of {args.batch_size} ({os.path.basename(args.config)}), 1 thread"
          f"{'' if core is None else f', core {core}'}; medians of {args.rounds} rounds x {args.steps} steps")
    print(f"{'side':<10} {'wall ms':>9} {'CPU ms':>9} {'first call s':>13}")
    for side, s in table.items():
        print(f"{side:<10} {s['wall_ms']:9.1f} {s['cpu_ms']:9.1f} {s['compile_wall_s']:13.1f}")
    if "reference" in table:
        o, ref = table["ours"], table["reference"]
        table["ratio_wall"] = ref["wall_ms"] / o["wall_ms"]
        table["ratio_cpu"] = ref["cpu_ms"] / o["cpu_ms"]
        print(f"reference / ours: {table['ratio_wall']:.2f}x wall, {table['ratio_cpu']:.2f}x CPU "
              f"(> 1: ours is faster); reference: {ref['version']}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(table, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
