"""Where the NequIP train step spends its kernel time: per native kernel (library and entry point) and per MindSpore op.

Usage (pin it to one core, one kernel thread)::

    OMP_NUM_THREADS=1 taskset -c 1 python scripts/profile_nequip_step.py \
        --config applications/nequip/configs/aspirin.yaml --set training.batch_size=5 [--shapes 0.4]

Compiles the train step once with MindSpore's final kernel graph saved (``MS_DEV_SAVE_GRAPHS=3``), runs
``--warmup`` steps, then ``--steps`` steps under ``mindspore.Profiler``, and joins the two: the profiler names a
kernel ``scope/Op-opN`` (for every native kernel just ``Custom``), the kernel graph gives each kernel node its
``# Scope:``, its shapes and, for a Custom op, the ``.so`` and symbol it calls. Kernels of one (scope, op type)
are matched in order. Prints the kernel time per step by kernel (a native kernel as ``library:entry``), the total
against the step's wall time (the rest is MindSpore's launching and host work), and with ``--shapes MS`` every
kernel above MS milliseconds with its shapes.
"""
import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NOT_KERNELS = {"Load", "UpdateState", "Depend", "MakeTuple", "TupleGetItem", "Return"}


def kernel_graph_nodes(ir_path):
    """{(scope, op type): [{"kernel", "shapes"}, ...]} in graph order, from a ``hwopt_common_final_graph`` IR."""
    groups = collections.defaultdict(list)
    node = None
    with open(ir_path, encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"\s+%\d+\([^)]*\) = (?:PrimFunc_)?(\w+)\(", line)
            if m:
                node = None if m.group(1) in _NOT_KERNELS else {"op": m.group(1), "shapes": ""}
                if node is not None:
                    lib = re.search(r'func_name: "[^"]*/([\w.]+?)(?:-[0-9a-f]+)?\.so:(\w+)"', line)
                    node["kernel"] = f"{lib.group(1)}:{lib.group(2)}" if lib else node["op"]
                continue
            text = line.strip()
            if node is not None and text.startswith(": (<") and not node["shapes"]:
                node["shapes"] = text[2:]
            elif node is not None and text.startswith("# Scope: ("):
                groups[(text[len("# Scope: ("):-1], node["op"])].append(node)
                node = None
    return groups


def profiled_kernels(profile_dir, steps):
    """{(scope, op type): [(N of -opN, ms per step), ...]} from the profiler's CPU timestamps."""
    out = collections.defaultdict(list)
    for path in glob.glob(os.path.join(profile_dir, "*", "FRAMEWORK", "cpu_op_execute_timestamp_*.txt")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                name, _, rest = line.strip().split(";", 2)
                ms = sum(float(item.split(",")[1]) for item in rest.split()) / steps
                scope, last = name.rsplit("/", 1)
                op, number = last.rsplit("-op", 1)
                out[(scope, op)].append((int(number), ms))
    return out


def attribute(groups, profiled):
    """[(ms per step, kernel, shapes)] for every profiled kernel; unmatched groups keep their op type."""
    rows = []
    for key, kernels in profiled.items():
        nodes = groups.get(key, [])
        matched = len(nodes) == len(kernels)
        for i, (_, ms) in enumerate(sorted(kernels)):
            rows.append((ms, nodes[i]["kernel"] if matched else key[1] + " (unmatched)",
                         nodes[i]["shapes"] if matched else key[0]))
    return rows


def run(cfg, steps, warmup, workdir):
    """Compile (kernel graph saved under ``workdir``), warm up and profile the train step; returns the median
    step wall time (s), the kernel graph IR path and the profile folder."""
    import mindspore as ms

    from applications.nequip.model import batch_inputs
    from applications.nequip.runtime import set_threads
    from applications.nequip.training import Trainer

    set_threads(1)
    trainer = Trainer(cfg, run_dir=os.path.join(workdir, "run"), log=lambda line: None)
    batch = next(iter(trainer.train_loader.epoch(0)))
    inputs, decay = batch_inputs(batch, trainer.dtype), ms.Tensor(0.99, trainer.dtype)

    def step():
        trainer.step(*inputs, decay)[0].asnumpy()

    times = []
    for _ in range(warmup + 1):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    profile_dir = os.path.join(workdir, "profile")
    profiler = ms.Profiler(output_path=profile_dir)
    for _ in range(steps):
        step()
    profiler.stop()
    profiler.analyse()
    ir = sorted(glob.glob(os.path.join(workdir, "ir", "hwopt_common_final_graph_*.ir")))
    if not ir:
        raise RuntimeError("no kernel graph was saved (MS_DEV_SAVE_GRAPHS must be set before the first compile)")
    return sorted(times[1:])[len(times[1:]) // 2], ir[0], profile_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(REPO, "applications", "nequip", "configs", "aspirin.yaml"))
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override, as the CLIs take")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--top", type=int, default=30, help="kernels listed (default 30)")
    parser.add_argument("--shapes", type=float, metavar="MS", help="also list every kernel above MS ms per step")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="nequip-profile-")
    os.environ["MS_DEV_SAVE_GRAPHS"] = "3"  # read at the process's first compile
    os.environ["MS_DEV_SAVE_GRAPHS_PATH"] = os.path.join(workdir, "ir")
    sys.path.insert(0, REPO)
    from applications.nequip.config import load_config, parse_set

    cfg = load_config(args.config, parse_set(args.set))
    cfg["training"]["progress"] = False
    step_s, ir, profile_dir = run(cfg, args.steps, args.warmup, workdir)
    rows = attribute(kernel_graph_nodes(ir), profiled_kernels(profile_dir, args.steps))
    per_kernel, count = collections.defaultdict(float), collections.Counter()
    for ms, kernel, _ in rows:
        per_kernel[kernel] += ms
        count[kernel] += 1
    total = sum(per_kernel.values())
    print(f"train step: {step_s * 1e3:.1f} ms wall (median of {args.warmup} warm-up steps), {len(rows)} kernels, "
          f"{total:.1f} ms kernel time per step ({args.steps} profiled steps); outside kernels "
          f"{max(step_s * 1e3 - total, 0.0):.1f} ms")
    print(f"{'ms/step':>8} {'share':>6} {'count':>5}  kernel")
    for kernel, ms in sorted(per_kernel.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"{ms:8.2f} {ms / total:6.1%} {count[kernel]:5d}  {kernel}")
    if args.shapes is not None:
        print(f"\nkernels above {args.shapes} ms per step:")
        for ms, kernel, shapes in sorted(rows, key=lambda r: -r[0]):
            if ms > args.shapes:
                print(f"{ms:8.2f}  {kernel}  {shapes[:180]}")
    print(f"(kernel graph and profile in {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
