"""Benchmark of mindchemistry_e3 against e3nn-torch on the tensor-product workloads of issue 3.

Runs MindSpore in GRAPH_MODE on CPU with one thread, and -- when given ``--e3nn-python`` (a Python with
``torch==2.13.0 e3nn==0.6.0``) -- the same workloads on e3nn-torch eager (``torch.set_num_threads(1)``) in a
subprocess (``scripts/peers/e3nn_torch.py``), one workload at a time so both sides see the same machine load.
``scripts/bench_peers.py`` adds torch.compile, e3nn-jax and the NequIP epoch against nequip 0.19.1. Prints a
table of median times and the ratio e3nn / ours (> 1: we are faster), plus our first-call (graph compile) times.

Workloads (float32):

* W1 ``spherical_harmonics([0,1,2,3], x, normalize=True, normalization='component')``, N = 100,000
* W2 NequIP convolution: ``32x0e+32x1o+32x2e`` x ``0e+1o+2e+3o``, ``uvu`` paths to every output with l <= 3,
  per-edge weights (``shared_weights=False, internal_weights=False``), E = 20,000
* W3 ``FullyConnectedTensorProduct('32x0e+32x1o+32x2e', '0e+1o+2e', '32x0e+32x1o+32x2e')``, batch 10,000
* W4 ``Linear('64x0e+64x1o+64x2e' -> same)``, batch 20,000

Each is timed forward only and forward+backward: the gradient of ``sum(out * ct)`` (``ct`` a random cotangent)
w.r.t. every input and every weight. Median of ``--runs`` calls after ``--warmup`` calls. A workload whose module
does not exist yet in mindchemistry_e3 is skipped with a message.

Usage::

    OMP_NUM_THREADS=1 python scripts/bench_e3nn.py --e3nn-python /work/e3nn-venv/bin/python
    python scripts/bench_e3nn.py --workloads W2,W4 --runs 5 --scale 0.1     # quick smoke run
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GLOG_v", "3")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from workloads import (DESCRIPTIONS, IRREPS_NODE, IRREPS_W3_IN2, IRREPS_W4, SH_LS, SIZES,  # noqa: E402
                       median_time, nequip_conv_irreps)

E3NN_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers", "e3nn_torch.py")


# ================================================================================================ ours (MindSpore)
def _ms_setup():
    import mindspore as ms

    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        ms.device_context.cpu.op_tuning.threads_num(1)
    except Exception:  # already set in this process
        pass
    return ms


def _ms_module(name, n, rng):
    """(cell, numpy inputs) of workload ``name``, or a string saying why it is skipped."""
    import mindspore as ms
    from mindspore import nn

    repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if repo not in sys.path:
        sys.path.insert(0, repo)
    from mindchemistry_e3 import o3

    if name == "W1":
        if hasattr(o3, "SphericalHarmonics"):
            cell = o3.SphericalHarmonics(list(SH_LS), True, normalization="component")
        elif hasattr(o3, "spherical_harmonics"):
            class _SH(nn.Cell):
                def construct(self, x):
                    return o3.spherical_harmonics(list(SH_LS), x, True, normalization="component")

            cell = _SH()
        else:
            return "o3.spherical_harmonics / o3.SphericalHarmonics not available yet"
        return cell, [rng.standard_normal((n, 3))]
    if name == "W2":
        if not hasattr(o3, "TensorProduct"):
            return "o3.TensorProduct not available yet"
        i1, i2, io, ins = nequip_conv_irreps(o3)
        cell = o3.TensorProduct(i1, i2, io, ins, shared_weights=False, internal_weights=False)
        return cell, [rng.standard_normal((n, i1.dim)), rng.standard_normal((n, i2.dim)),
                      rng.standard_normal((n, cell.weight_numel))]
    if name == "W3":
        if not hasattr(o3, "FullyConnectedTensorProduct"):
            return "o3.FullyConnectedTensorProduct not available yet"
        cell = o3.FullyConnectedTensorProduct(IRREPS_NODE, IRREPS_W3_IN2, IRREPS_NODE)
        return cell, [rng.standard_normal((n, cell.irreps_in1.dim)), rng.standard_normal((n, cell.irreps_in2.dim))]
    if name == "W4":
        if not hasattr(o3, "Linear"):
            return "o3.Linear not available yet"
        cell = o3.Linear(IRREPS_W4, IRREPS_W4)
        return cell, [rng.standard_normal((n, cell.irreps_in.dim))]
    raise ValueError(name)


def prepare_ours(name, n, seed=0):
    """Build workload ``name`` and compile its two graphs; returns the two timed callables and compile times."""
    import numpy as np

    ms = _ms_setup()
    from mindspore import nn, ops

    class FwdBwd(nn.Cell):
        """Gradient of sum(out * ct) w.r.t. all inputs and all trainable Parameters (ct as the sensitivity)."""

        def __init__(self, net):
            super().__init__()
            self.net = net
            self.params = ms.ParameterTuple(net.trainable_params())
            self.has_params = len(self.params) > 0
            self.grad = ops.GradOperation(get_all=True, get_by_list=self.has_params, sens_param=True)

        def construct(self, *args):
            if self.has_params:
                return self.grad(self.net, self.params)(*args)
            return self.grad(self.net)(*args)

    def _sync(res):
        if isinstance(res, (tuple, list)):
            for r in res:
                _sync(r)
        else:
            res.asnumpy()

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    built = _ms_module(name, n, rng)
    if isinstance(built, str):
        return dict(skipped=built)
    cell, arrays = built
    build = time.perf_counter() - t0
    inputs = [ms.Tensor(a.astype(np.float32)) for a in arrays]
    t0, c0 = time.perf_counter(), time.process_time()
    out = cell(*inputs)  # first call: graph compile + one run
    out.asnumpy()
    first_f, first_f_cpu = time.perf_counter() - t0, time.process_time() - c0
    ct = ms.Tensor(rng.standard_normal(out.shape).astype(np.float32))
    grad_cell = FwdBwd(cell)
    t0, c0 = time.perf_counter(), time.process_time()
    _sync(grad_cell(*inputs, ct))
    first_b, first_b_cpu = time.perf_counter() - t0, time.process_time() - c0

    def fwd():
        _sync(cell(*inputs))

    def fwd_bwd():
        _sync(grad_cell(*inputs, ct))

    return dict(build=build, first_fwd=first_f, first_fwd_cpu=first_f_cpu, first_fwd_bwd=first_b,
                first_fwd_bwd_cpu=first_b_cpu, _fns=(fwd, fwd_bwd))


def time_ours(prepared, runs, warmup):
    fwd, fwd_bwd = prepared["_fns"]
    _, med_f, _ = median_time(fwd, runs, warmup)
    _, med_b, _ = median_time(fwd_bwd, runs, warmup)
    return med_f, med_b


# ================================================================================================ driver
def _e3nn_subprocess(python, name, n, runs, warmup):
    cmd = [python, E3NN_PEER, "--workload", name, "--size", str(n), "--runs", str(runs), "--warmup", str(warmup),
           "--mode", "eager"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        return dict(skipped=f"e3nn run failed: {res.stderr.strip().splitlines()[-1] if res.stderr else '?'}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _fmt(t):
    return "-" if t is None else f"{t:.4f}"


def _ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}x"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--runs", type=int, default=7, help="timed calls per measurement (median; >= 5)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate ours / e3nn this many times per workload and report the median round")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every problem size (quick runs)")
    parser.add_argument("--sizes", default=None, help="comma-separated sizes, overriding the defaults")
    parser.add_argument("--e3nn-python", default=None, help="Python with torch==2.13.0 and e3nn==0.6.0")
    parser.add_argument("--json", action="store_true", help="print one JSON line of results")
    args = parser.parse_args(argv)

    names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    for w in names:
        if w not in SIZES:
            parser.error(f"unknown workload {w}; choose from {sorted(SIZES)}")
    if args.sizes:
        sizes = dict(zip(names, (int(s) for s in args.sizes.split(","))))
    else:
        sizes = {w: max(1, int(SIZES[w] * args.scale)) for w in names}

    results = {}
    for w in names:
        try:
            prepared = prepare_ours(w, sizes[w])
        except Exception as exc:  # a module under construction must not stop the other workloads
            prepared = dict(skipped=f"failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:120]}")
        if "skipped" in prepared:
            print(f"{w}: skipped ({prepared['skipped']})", file=sys.stderr, flush=True)
            results[w] = dict(ours=prepared, e3nn=None, size=sizes[w])
            continue
        ours_f, ours_b, ref_f, ref_b, ref = [], [], [], [], None
        for _ in range(args.rounds):  # ours and e3nn alternate, so both see the same machine load
            f, b = time_ours(prepared, args.runs, args.warmup)
            ours_f.append(f)
            ours_b.append(b)
            if args.e3nn_python:
                ref = _e3nn_subprocess(args.e3nn_python, w, sizes[w], args.runs, args.warmup)
                if "skipped" not in ref:
                    ref_f.append(ref["fwd"])
                    ref_b.append(ref["fwd_bwd"])
        ours = {k: v for k, v in prepared.items() if not k.startswith("_")}
        ours.update(fwd=statistics.median(ours_f), fwd_bwd=statistics.median(ours_b), fwd_rounds=ours_f,
                    fwd_bwd_rounds=ours_b)
        if ref is not None and "skipped" not in ref:
            ref = dict(ref, fwd=statistics.median(ref_f), fwd_bwd=statistics.median(ref_b), fwd_rounds=ref_f,
                       fwd_bwd_rounds=ref_b)
        results[w] = dict(ours=ours, e3nn=ref, size=sizes[w])
        print(f"{w}: done", file=sys.stderr, flush=True)

    if args.json:
        print(json.dumps(results))
        return results

    print(f"\nmindchemistry_e3 (MindSpore GRAPH_MODE, CPU, 1 thread) vs e3nn 0.6.0 (torch eager, 1 thread); "
          f"median of {args.runs} runs after {args.warmup} warm-up (median of {args.rounds} alternating rounds), "
          f"float32, seconds; ratio = e3nn / ours; compile = first-call wall time (CPU time)")
    header = (f"{'workload':<52} {'ours fwd':>9} {'e3nn fwd':>9} {'ratio':>7} {'ours f+b':>9} {'e3nn f+b':>9} "
              f"{'ratio':>7}  {'compile fwd / f+b, s':>24}")
    print(header)
    print("-" * len(header))
    for w in names:
        r = results[w]
        label = f"{w} {DESCRIPTIONS[w].format(n=r['size'])}"
        ours, ref = r["ours"], r["e3nn"] or {}
        if "skipped" in ours:
            print(f"{label:<52} skipped: {ours['skipped']}")
            continue
        ef, eb = ref.get("fwd"), ref.get("fwd_bwd")
        print(f"{label:<52} {_fmt(ours['fwd']):>9} {_fmt(ef):>9} {_ratio(ef, ours['fwd']):>7} "
              f"{_fmt(ours['fwd_bwd']):>9} {_fmt(eb):>9} {_ratio(eb, ours['fwd_bwd']):>7} "
              f"  {ours['first_fwd']:5.1f} ({ours['first_fwd_cpu']:4.1f}) / {ours['first_fwd_bwd']:5.1f} "
              f"({ours['first_fwd_bwd_cpu']:4.1f})")
        if ref and "skipped" in ref:
            print(f"    e3nn: {ref['skipped']}")
    return results


if __name__ == "__main__":
    main()
