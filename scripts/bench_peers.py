"""One command: W1-W4 and the NequIP epoch, ours side by side with e3nn eager, torch.compile, e3nn-jax, nequip 0.19.1.

Usage (repository root; every peer runs in its own environment, none is needed by the project)::

    python scripts/bench_peers.py --e3nn-python /work/e3nn-venv/bin/python \\
        --jax-python /work/jax-venv/bin/python --nequip-python /work/nequip19-venv/bin/python \\
        --rounds 3 --out-json bench.json --out-md bench.md
    python scripts/bench_peers.py --workloads W2 --scale 0.1 --no-epoch     # ours only, quick

Peers (each optional; a side whose Python is not given is left out):

* **e3nn eager** and **torch.compile**: ``scripts/peers/e3nn_torch.py`` with ``--e3nn-python`` (torch 2.13.0,
  e3nn 0.6.0); torch.compile with inductor's caches off, so its first call is a cold compile (``--no-compile``
  leaves it out: it takes minutes per round).
* **e3nn-jax**: ``scripts/peers/e3nn_jax_peer.py`` with ``--jax-python`` (jax, e3nn-jax); before timing, the
  driver checks that it computes e3nn's numbers (``e3nn_torch.py --dump`` then ``e3nn_jax_peer.py --check``).
* **nequip 0.19.1**: ``scripts/peers/nequip019.py`` with ``--nequip-python`` (torch 2.13.0, nequip 0.19.1).

W1-W4 (``scripts/peers/workloads.py``): same shapes, float32, one thread on every side (``OMP_NUM_THREADS=1``,
``torch.set_num_threads(1)``, XLA ``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``, ours
``threads_num(1)``), all pinned to one core (``--core``). Each round times ours in this process, then each peer
in a fresh process, one after the other (the sides alternate, so all see the same load); a side's figure is the
median over rounds of its per-round median (``--runs`` calls after ``--warmup``). The first call (our graph
compile, torch.compile's compile, jax's trace + XLA compile, e3nn eager's first call) is reported apart.
Ratio = peer time / ours (> 1: ours is faster).

NequIP epoch: the shipped aspirin set and the small model of ``--nequip-config``
(``applications/nequip/configs/aspirin.yaml``: l_max 1, 32 features, 3 layers, r_max 4 Å) with batches of
``--batch-size`` (5), the same training / validation frames for both (our split, written to extxyz for nequip),
``--epochs`` (3) epochs each, first ours then nequip, on the same core. Ours runs the application's train step
(first epoch includes the compile) and its validation; nequip trains with its own trainer
(``nequip-train``, PyTorch eager). Reported per epoch: training part and validation.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(REPO, "scripts", "peers")
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.path.insert(0, PEERS)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GLOG_v", "3")

from workloads import DESCRIPTIONS, SIZES  # noqa: E402

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
              "JAX_PLATFORMS": "cpu", "TORCHINDUCTOR_FORCE_DISABLE_CACHES": "1", "GLOG_v": "3"}
PHASES = ("fwd", "fwd_bwd")


def _pinned(cmd, core):
    return cmd if core is None else ["taskset", "-c", str(core)] + cmd


def _peer(python, script, args, core, timeout=3600):
    """Run a peer script; its last stdout line is JSON. Returns the dict, or {'skipped': reason}."""
    cmd = _pinned([python, os.path.join(PEERS, script)] + [str(a) for a in args], core)
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **ONE_THREAD), cwd=REPO,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"skipped": f"{script} timed out after {timeout} s"}
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()
        return {"skipped": f"{script} failed: {tail[-1] if tail else res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


# ================================================================================================ W1-W4
def peer_sides(args):
    """(label, python, script, extra args) of the W1-W4 peers that were given."""
    sides = []
    if args.e3nn_python:
        sides.append(("e3nn eager", args.e3nn_python, "e3nn_torch.py", ["--mode", "eager"]))
        if not args.no_compile:
            sides.append(("torch.compile", args.e3nn_python, "e3nn_torch.py", ["--mode", "compile"]))
    if args.jax_python:
        sides.append(("e3nn-jax", args.jax_python, "e3nn_jax_peer.py", []))
    return sides


def check_jax_equivalence(args):
    """e3nn-jax against e3nn on a small float64 case (max relative error per workload)."""
    with tempfile.TemporaryDirectory() as tmp:
        case = os.path.join(tmp, "case.npz")
        dumped = _peer(args.e3nn_python, "e3nn_torch.py", ["--dump", case], None)
        if "skipped" in dumped:
            return dumped
        return _peer(args.jax_python, "e3nn_jax_peer.py", ["--check", case], None)


def _pin_self(core):
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def bench_workloads(args, names, sizes):
    """{workload: {side: summary}} with the per-round figures of every side."""
    import bench_e3nn

    sides = peer_sides(args)
    results = {}
    for w in names:
        n = sizes[w]
        ours_prep = bench_e3nn.prepare_ours(w, n)
        rounds = {"ours": []}
        rounds.update({label: [] for label, *_ in sides})
        for r in range(args.rounds):
            if "skipped" not in ours_prep:
                f, b = bench_e3nn.time_ours(ours_prep, args.runs, args.warmup)
                rounds["ours"].append({"fwd": f, "fwd_bwd": b, "first_fwd": ours_prep["first_fwd"],
                                       "first_fwd_bwd": ours_prep["first_fwd_bwd"]})
            for label, python, script, extra in sides:
                rounds[label].append(_peer(python, script, ["--workload", w, "--size", n, "--runs", args.runs,
                                                            "--warmup", args.warmup] + extra, args.core))
            _log(f"{w} round {r + 1}/{args.rounds}: " + ", ".join(
                f"{k} {v[-1]['fwd']:.4f}/{v[-1]['fwd_bwd']:.4f} s" if v and "fwd" in v[-1] else
                f"{k} {v[-1].get('skipped', '-') if v else ours_prep.get('skipped')}" for k, v in rounds.items()))
        results[w] = {"size": n, "sides": {k: _summary(v) for k, v in rounds.items()}}
    return results


def _summary(rounds):
    ok = [r for r in rounds if "fwd" in r]
    if not ok:
        return {"skipped": rounds[0].get("skipped", "not run") if rounds else "not run"}
    out = {k: statistics.median(r[k] for r in ok) for k in ("fwd", "fwd_bwd", "first_fwd", "first_fwd_bwd")}
    out.update(rounds=len(ok), fwd_rounds=[r["fwd"] for r in ok], fwd_bwd_rounds=[r["fwd_bwd"] for r in ok])
    if "version" in ok[0]:
        out["version"] = ok[0]["version"]
    return out


# ================================================================================================ NequIP epoch
def epoch_worker(spec):
    """Our side of the epoch benchmark (run in a fresh process): ``epochs`` epochs of training + validation."""
    import mindspore as ms

    ms.device_context.cpu.op_tuning.threads_num(1)
    sys.path.insert(0, REPO)
    from applications.nequip.config import load_config
    from applications.nequip.train import Trainer

    cfg = load_config(spec["config"], {"training": {"batch_size": spec["batch_size"], "progress": False,
                                                    "max_epochs": spec["epochs"], "plot_every": 0}})
    epochs = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        trainer = Trainer(cfg, run_dir=tmp, log=lambda line: None)
        setup = time.perf_counter() - t0
        for _ in range(spec["epochs"]):
            t0 = time.perf_counter()
            trainer.train_epoch()
            t1 = time.perf_counter()
            trainer.load_eval_weights()
            trainer.evaluate(trainer.val_loader)
            t2 = time.perf_counter()
            trainer.epoch += 1
            epochs.append({"train_s": t1 - t0, "val_s": t2 - t1, "epoch_s": t2 - t0,
                           "steps": len(trainer.train_loader)})
        compile_s = sum(trainer.timing["compile_s"].values())
    return {"epochs": epochs, "setup_s": setup, "train_step_compile_s": compile_s}


def _write_extxyz(frames, path):
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = []
    for f in frames:
        a = ase.Atoms(numbers=f.atomic_numbers, positions=f.pos)
        a.calc = SinglePointCalculator(a, energy=float(f.energy), forces=f.forces)
        atoms.append(a)
    ase.io.write(path, atoms, format="extxyz")


def nequip_inputs(config, workdir):
    """Our training / validation frames as extxyz (eV, Å) and the model section for nequip019.py."""
    sys.path.insert(0, REPO)
    from applications.nequip.config import load_config
    from applications.nequip.data import symbol, train_val_test_split
    from applications.nequip.data.split import count_or_fraction
    from applications.nequip.train import read_frames

    cfg = load_config(config)
    d = cfg["data"]
    frames = read_frames(os.path.join(REPO, d["train_file"]) if not os.path.isabs(d["train_file"])
                         else d["train_file"], d)
    n_val = count_or_fraction(d["n_val"], len(frames), "n_val") or 0
    n_train = count_or_fraction(d["n_train"], len(frames), "n_train") or len(frames) - n_val
    idx_train, idx_val, _ = train_val_test_split(len(frames), n_train, n_val, 0, seed=d["split_seed"])
    paths = {"train": os.path.join(workdir, "train.xyz"), "val": os.path.join(workdir, "val.xyz")}
    _write_extxyz([frames[i] for i in idx_train], paths["train"])
    _write_extxyz([frames[i] for i in idx_val], paths["val"])
    species = sorted({int(z) for f in frames for z in f.atomic_numbers})
    model = dict(cfg["model"], symbols=[symbol(z) for z in species])
    paths["model"] = os.path.join(workdir, "model.json")
    with open(paths["model"], "w", encoding="utf-8") as fh:
        json.dump(model, fh)
    return paths, cfg, len(idx_train), len(idx_val)


def bench_epochs(args):
    """{'ours': ..., 'nequip 0.19.1': ...} epoch times, ours first, then nequip, same core."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"config": args.nequip_config, "batch_size": args.batch_size, "epochs": args.epochs}
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as fh:
            json.dump(spec, fh)
        cmd = _pinned([sys.executable, os.path.abspath(__file__), "--epoch-worker", spec_path], args.core)
        res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **ONE_THREAD), cwd=REPO,
                             check=False)
        if res.returncode != 0:
            out["ours"] = {"skipped": f"failed: {res.stderr.strip().splitlines()[-1:]}"}
        else:
            out["ours"] = json.loads(res.stdout.strip().splitlines()[-1])
        _log(f"NequIP epochs, ours: {_epoch_line(out['ours'])}")
        if args.nequip_python:
            paths, _, n_train, n_val = nequip_inputs(args.nequip_config, tmp)
            out["nequip 0.19.1"] = _peer(args.nequip_python, "nequip019.py",
                                         ["--train", paths["train"], "--val", paths["val"], "--model", paths["model"],
                                          "--batch-size", args.batch_size, "--epochs", args.epochs,
                                          "--workdir", os.path.join(tmp, "nequip")], args.core)
            out["frames"] = {"train": n_train, "val": n_val}
            _log(f"NequIP epochs, nequip 0.19.1: {_epoch_line(out['nequip 0.19.1'])}")
    return out


def _epoch_line(side):
    if "epochs" not in side:
        return side.get("skipped", "?")
    return " / ".join(f"{e['train_s']:.1f}+{e['val_s']:.1f}" for e in side["epochs"]) + " s (train+val)"


# ================================================================================================ report
def _fmt(t):
    return "-" if t is None else (f"{t:.4f}" if t < 10 else f"{t:.1f}")


def _ratio(peer, ours):
    return "-" if peer is None or ours is None else f"{peer / ours:.2f}x"


def table_rows(results):
    """Rows of the side-by-side table: one per workload and phase."""
    rows = []
    for w, r in results.items():
        sides = r["sides"]
        ours = sides.get("ours", {})
        for phase in PHASES:
            size = f"{r['size']:,}"
            row = {"workload": f"{w} {DESCRIPTIONS[w].format(n=size)}", "phase": phase,
                   "ours": ours.get(phase), "ours_first": ours.get(f"first_{phase}")}
            peers = {}
            for label, s in sides.items():
                if label != "ours":
                    peers[label] = {"time": s.get(phase), "first": s.get(f"first_{phase}"),
                                    "ratio": None if s.get(phase) is None or not row["ours"]
                                    else s[phase] / row["ours"]}
            row["peers"] = peers
            timed = [(v["time"], k) for k, v in peers.items() if v["time"] is not None]
            row["fastest_peer"] = min(timed)[1] if timed else None
            rows.append(row)
    return rows


def markdown(report):
    """The Markdown tables of a report (W1-W4 and the NequIP epoch)."""
    lines = []
    rows = report["workloads"]
    if rows:
        labels = list(rows[0]["peers"])
        head = "| workload | phase | ours | " + " | ".join(f"{p} | ratio" for p in labels) + \
               " | first call, ours / " + " / ".join(labels) + " (s) |"
        lines += [head, "|" + "---|" * (3 + 2 * len(labels) + 1)]
        for r in rows:
            cells = " | ".join(f"{_fmt(r['peers'][p]['time'])} | {_ratio(r['peers'][p]['time'], r['ours'])}"
                               for p in labels)
            firsts = " / ".join([_fmt(r["ours_first"])] + [_fmt(r["peers"][p]["first"]) for p in labels])
            lines.append(f"| {r['workload']} | {r['phase'].replace('_', '+')} | {_fmt(r['ours'])} | {cells} | "
                         f"{firsts} |")
    ep = report.get("epochs")
    if ep:
        lines += ["", "| NequIP epoch (train + validation, s) | " +
                  " | ".join(f"epoch {i + 1}" for i in range(len(ep["ours"].get("epochs", [])))) + " |",
                  "|---|" + "---|" * len(ep["ours"].get("epochs", []))]
        for side in ("ours", "nequip 0.19.1"):
            if side in ep and "epochs" in ep[side]:
                lines.append(f"| {side} | " + " | ".join(f"{e['train_s']:.1f} + {e['val_s']:.1f}"
                                                         for e in ep[side]["epochs"]) + " |")
        if "nequip 0.19.1" in ep and "epochs" in ep["nequip 0.19.1"] and "epochs" in ep["ours"]:
            pairs = list(zip(ep["ours"]["epochs"], ep["nequip 0.19.1"]["epochs"]))
            lines.append("| ratio nequip / ours, training part | " +
                         " | ".join(f"{n['train_s'] / o['train_s']:.2f}x" for o, n in pairs) + " |")
            lines.append("| ratio nequip / ours, training + validation | " +
                         " | ".join(f"{n['epoch_s'] / o['epoch_s']:.2f}x" for o, n in pairs) + " |")
    return "\n".join(lines) + "\n"


def print_report(report):
    print(f"\nW1-W4: median of {report['conditions']['rounds']} rounds x {report['conditions']['runs']} runs, "
          f"float32, 1 thread, seconds; ratio = peer / ours (> 1: ours faster)")
    print(markdown(report))
    if report.get("jax_check"):
        print(f"e3nn-jax vs e3nn (float64, max relative error): {report['jax_check']}")


def _log(line):
    print(line, file=sys.stderr, flush=True)


def _commit():
    res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                         check=False)
    return res.stdout.strip() or "?"


def main(argv=None):
    """Run the selected sides and print / write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="W1,W2,W3,W4", help="comma-separated, or 'none'")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every W1-W4 size (quick runs)")
    parser.add_argument("--e3nn-python", help="Python with torch==2.13.0, e3nn==0.6.0 (e3nn eager, torch.compile)")
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    parser.add_argument("--jax-python", help="Python with jax, e3nn-jax")
    parser.add_argument("--nequip-python", help="Python with torch==2.13.0, nequip==0.19.1")
    parser.add_argument("--no-epoch", action="store_true", help="leave the NequIP epoch benchmark out")
    parser.add_argument("--nequip-config", default=os.path.join(REPO, "applications", "nequip", "configs",
                                                                 "aspirin.yaml"))
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--core", type=int, default=None, help="pin every side to this CPU core")
    parser.add_argument("--out-json")
    parser.add_argument("--out-md")
    parser.add_argument("--epoch-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epoch_worker:
        with open(args.epoch_worker, encoding="utf-8") as fh:
            print(json.dumps(epoch_worker(json.load(fh))))
        return 0
    _pin_self(args.core)
    names = [] if args.workloads == "none" else [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    for w in names:
        if w not in SIZES:
            parser.error(f"unknown workload {w}; choose from {sorted(SIZES)}")
    sizes = {w: max(1, int(SIZES[w] * args.scale)) for w in names}
    report = {"conditions": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                             "commit": _commit(), "rounds": args.rounds, "runs": args.runs, "warmup": args.warmup,
                             "core": args.core, "load_average_start": os.getloadavg(),
                             "batch_size": args.batch_size, "epochs": args.epochs}}
    if args.jax_python and args.e3nn_python and names:
        report["jax_check"] = check_jax_equivalence(args)
        _log(f"e3nn-jax vs e3nn: {report['jax_check']}")
    raw = bench_workloads(args, names, sizes) if names else {}
    report["raw"] = raw
    report["workloads"] = table_rows(raw)
    if not args.no_epoch:
        report["epochs"] = bench_epochs(args)
    report["conditions"]["load_average_end"] = os.getloadavg()
    print_report(report)
    if args.out_json:
        with open(args.out_json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
    if args.out_md:
        with open(args.out_md, "w", encoding="utf-8") as fh:
            fh.write(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
