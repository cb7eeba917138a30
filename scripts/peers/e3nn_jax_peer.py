"""W1-W4 on e3nn-jax (``jax.jit``, CPU), written with e3nn-jax's own functions (run by a Python with jax, e3nn-jax).

    python scripts/peers/e3nn_jax_peer.py --workload W2 --size 20000 --runs 7 --warmup 2
    python scripts/peers/e3nn_jax_peer.py --check case.npz     # same numbers as e3nn? (case from e3nn_torch.py --dump)

The equivalents of e3nn's modules: W1 ``e3nn_jax.spherical_harmonics``; W2 ``legacy.FunctionalTensorProduct``
with W2's ``uvu`` instructions and per-edge weights (``left_right`` vmapped over the edges, each edge its own
weights); W3 ``legacy.FunctionalFullyConnectedTensorProduct``; W4 ``FunctionalLinear`` (shared weights,
vmapped over the batch). e3nn-jax orders the components of each irrep differently from e3nn (``1o`` is
``(x, y, z)`` there, ``(y, z, x)`` in e3nn): ``--check`` finds the orthogonal change of basis of every ``l`` from
the spherical harmonics of both libraries on the same vectors, maps e3nn's inputs into e3nn-jax's basis, feeds
e3nn's weights unchanged, and compares the outputs mapped back (float64), path by path (e3nn-jax sorts W2's
output irreps ``2e`` before ``2o``, e3nn the other way round): the two libraries' Clebsch-Gordan coefficients
of a path may differ by a sign (an equally valid convention), which the check allows and counts. One thread:
the driver sets ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import (IRREPS_NODE, IRREPS_W3_IN2, IRREPS_W4, SH_LS, median_time,  # noqa: E402
                       nequip_conv_irreps)


def _split(flat, shapes):
    """Per-instruction weight arrays from e3nn's flat weight vector (instruction order, row-major)."""
    import numpy as np

    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[..., start:start + size].reshape(flat.shape[:-1] + tuple(shape)))
        start += size
    return out


def _sh_irreps(ls):
    """``'0e+1o+...'``: the irreps of the spherical harmonics of degrees ``ls`` (parity (-1)^l)."""
    return "+".join(f"{l}{'eo'[l % 2]}" for l in ls)


def build(name):
    """(f(inputs, weights) -> output array, irreps of the inputs, weight shapes, per-sample weights?)."""
    import jax
    import e3nn_jax as e3nn
    from e3nn_jax import legacy

    if name == "W1":
        def f(inputs, weights):
            return e3nn.spherical_harmonics(_sh_irreps(SH_LS), inputs[0], normalize=True,
                                         normalization="component").array

        return f, [None], [], False
    if name == "W2":
        i1, i2, io, ins = nequip_conv_irreps(e3nn)
        tp = legacy.FunctionalTensorProduct(i1, i2, io, ins)
        shapes = [ins_.path_shape for ins_ in tp.instructions]

        def one(x1, x2, ws):
            return tp.left_right(ws, e3nn.IrrepsArray(i1, x1), e3nn.IrrepsArray(i2, x2)).array

        def f(inputs, weights):
            x1, x2, w = inputs
            return jax.vmap(one)(x1, x2, _split(w, shapes))

        return f, [i1, i2, None], shapes, True
    if name == "W3":
        i1, i2 = e3nn.Irreps(IRREPS_NODE), e3nn.Irreps(IRREPS_W3_IN2)
        tp = legacy.FunctionalFullyConnectedTensorProduct(i1, i2, i1)
        shapes = [ins_.path_shape for ins_ in tp.instructions]

        def f(inputs, weights):
            def one(x1, x2):
                return tp.left_right(weights, e3nn.IrrepsArray(i1, x1), e3nn.IrrepsArray(i2, x2)).array

            return jax.vmap(one)(*inputs)

        return f, [i1, i2], shapes, False
    if name == "W4":
        irreps = e3nn.Irreps(IRREPS_W4)
        lin = e3nn.FunctionalLinear(irreps, irreps)
        shapes = [ins_.path_shape for ins_ in lin.instructions]

        def f(inputs, weights):
            return jax.vmap(lambda x: lin(weights, e3nn.IrrepsArray(irreps, x)).array)(inputs[0])

        return f, [irreps], shapes, False
    raise ValueError(name)


def _dims(name):
    """Input widths of workload ``name`` (W2's third input: the per-edge weights)."""
    f, irreps, shapes, per_sample = build(name)
    import numpy as np

    dims = [3] if name == "W1" else [ir.dim for ir in irreps if ir is not None]
    if per_sample:
        dims.append(int(sum(np.prod(s) for s in shapes)))
    return f, dims, shapes, per_sample


def run(name, n, runs, warmup, seed=0):
    import time

    import jax
    import jax.numpy as jnp
    import numpy as np

    t0 = time.perf_counter()
    f, dims, shapes, per_sample = _dims(name)
    rng = np.random.default_rng(seed)
    inputs = [jnp.asarray(rng.standard_normal((n, d)), jnp.float32) for d in dims]
    weights = [] if per_sample else [jnp.asarray(rng.standard_normal(s), jnp.float32) for s in shapes]
    out_shape = jax.eval_shape(f, inputs, weights).shape
    ct = jnp.asarray(rng.standard_normal(out_shape), jnp.float32)
    fwd_jit = jax.jit(f)

    @jax.jit
    def fwd_bwd_jit(inputs, weights, ct):
        _, vjp = jax.vjp(f, inputs, weights)
        return vjp(ct)

    build_s = time.perf_counter() - t0
    first_f, med_f, _ = median_time(lambda: fwd_jit(inputs, weights).block_until_ready(), runs, warmup)
    first_b, med_b, _ = median_time(lambda: jax.block_until_ready(fwd_bwd_jit(inputs, weights, ct)), runs, warmup)
    import e3nn_jax

    return dict(build=build_s, first_fwd=first_f, fwd=med_f, first_fwd_bwd=first_b, fwd_bwd=med_b,
                version=f"e3nn-jax {e3nn_jax.__version__}, jax {jax.__version__}")


def check(path):
    """Max relative error of e3nn-jax against e3nn on the dumped case, per workload (float64)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import e3nn_jax as e3nn

    case = np.load(path)
    basis = {}
    for l in SH_LS:
        mine = np.asarray(e3nn.spherical_harmonics(_sh_irreps([l]), case[f"sh{l}_vec"], normalize=True,
                                                   normalization="component").array)
        q, *_ = np.linalg.lstsq(case[f"sh{l}"], mine, rcond=None)  # mine = theirs @ q
        basis[l] = q
    errors = {"W1 basis (orthogonality of the fitted change of basis)":
              max(float(np.abs(q.T @ q - np.eye(len(q))).max()) for q in basis.values())}

    def to_mine(irreps, x, inverse=False):
        blocks, start = [], 0
        for mul, ir in irreps:
            d = ir.dim
            block = x[:, start:start + mul * d].reshape(len(x), mul, d)
            q = basis[ir.l].T if inverse else basis[ir.l]
            blocks.append((block @ q).reshape(len(x), mul * d))
            start += mul * d
        return np.concatenate(blocks, axis=1)

    for name in ("W2", "W3", "W4"):
        f, irreps, shapes, per_sample = build(name)
        theirs = [case[f"{name}_in{i}"] for i in range(3) if f"{name}_in{i}" in case.files]
        inputs = [to_mine(ir, x) if ir is not None else x for ir, x in zip(irreps + [None], theirs)]
        weights = [] if per_sample else _split(case[f"{name}_weight"], shapes)
        out = np.asarray(f(inputs, weights))
        out_irreps = nequip_conv_irreps(e3nn)[2] if name == "W2" else irreps[0]
        ref, mapped = case[f"{name}_out"], to_mine(out_irreps, out, inverse=True)
        if name == "W2":  # compare path by path (the two libraries sort the output irreps differently)
            mine = [out_irreps.slices()[i_out] for _, _, i_out, _, _ in nequip_conv_irreps(e3nn)[3]]
            pairs = [(mapped[:, s], ref[:, a:b]) for s, (a, b) in zip(mine, case["W2_path_slices"])]
        else:
            pairs = [(mapped, ref)]
        err, flipped = 0.0, 0
        for a, b in pairs:
            same, opposite = np.abs(a - b).max(), np.abs(a + b).max()
            flipped += int(opposite < same)
            err = max(err, min(same, opposite))
        errors[name] = float(err / np.abs(ref).max())
        errors[f"{name} paths of opposite sign"] = flipped
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default="W1")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--check", metavar="NPZ")
    args = parser.parse_args()
    if args.check:
        print(json.dumps(check(args.check)))
        return
    print(json.dumps(run(args.workload, args.size, args.runs, args.warmup)))


if __name__ == "__main__":
    main()
