"""The workloads W1-W4 of ``scripts/bench_e3nn.py`` and the timing harness every side shares (stdlib only).

Imported by ``scripts/bench_e3nn.py`` (ours, MindSpore) and by the peer scripts of this folder, which run in
their own environments (torch + e3nn, jax + e3nn-jax): one definition of the shapes, one way of timing.

* W1 ``spherical_harmonics([0,1,2,3], x, normalize=True, normalization='component')``, N = 100,000 vectors
* W2 NequIP convolution: ``32x0e+32x1o+32x2e`` x ``0e+1o+2e+3o``, ``uvu`` paths to every output with l <= 3,
  per-edge weights (``shared_weights=False, internal_weights=False``), E = 20,000 edges
* W3 ``FullyConnectedTensorProduct('32x0e+32x1o+32x2e', '0e+1o+2e', '32x0e+32x1o+32x2e')``, batch 10,000
* W4 ``Linear('64x0e+64x1o+64x2e' -> same)``, batch 20,000

forward: the output; forward+backward: the gradient of ``sum(out * ct)`` (``ct`` a fixed random cotangent)
w.r.t. every input and every weight. Timing: the first call (compile, tracing or warm-up of the framework) is
reported on its own; then ``warmup`` untimed calls and the median of ``runs`` timed calls (each synchronised).
"""
import statistics
import time

SIZES = {"W1": 100_000, "W2": 20_000, "W3": 10_000, "W4": 20_000}
DESCRIPTIONS = {
    "W1": "spherical_harmonics l=0..3, N={n}",
    "W2": "NequIP conv uvu 32x(0e+1o+2e) x sh(3), E={n}",
    "W3": "FullyConnectedTP 32x(0e+1o+2e) x (0e+1o+2e), B={n}",
    "W4": "Linear 64x(0e+1o+2e), B={n}",
}
SH_LS = (0, 1, 2, 3)
IRREPS_NODE = "32x0e+32x1o+32x2e"
IRREPS_SH3 = "0e+1o+2e+3o"
IRREPS_W3_IN2 = "0e+1o+2e"
IRREPS_W4 = "64x0e+64x1o+64x2e"


def nequip_conv_irreps(o3):
    """W2's ``(irreps_in1, irreps_in2, irreps_out, instructions)`` with ``o3`` = e3nn's, ours or e3nn-jax's.

    ``uvu`` paths from every (input, edge) irrep pair to every allowed output with l <= 3, outputs sorted; the
    instructions are ``(i1, i2, i_out, 'uvu', True)``.
    """
    irreps_in1, irreps_in2 = o3.Irreps(IRREPS_NODE), o3.Irreps(IRREPS_SH3)
    mid, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in1):
        for j, (_, ir_edge) in enumerate(irreps_in2):
            for ir_out in ir_in * ir_edge:
                if ir_out.l <= 3:
                    instructions.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    irreps_out, p, _ = o3.Irreps(mid).sort()
    instructions = [(i1, i2, p[k], mode, train) for i1, i2, k, mode, train in instructions]
    return irreps_in1, irreps_in2, irreps_out, instructions


def median_time(fn, runs, warmup):
    """(first-call seconds, median seconds of ``runs`` calls after ``warmup`` calls, all timed calls)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), times
