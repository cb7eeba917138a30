r"""Tell the eight 3-D tetris shapes apart, whatever their orientation (e3nn's classic tetris example).

The data: eight shapes of four unit cubes (two of them mirror images of each other), their atoms at the
cube centres. The network sees only the positions, randomly rotated, and must say which shape it is.

The network (an E(3)-equivariant point convolution with gates, built from this library's layers):

* **graph**: :func:`~mindchemistry_e3.util.graph.radius_graph` (``r_max = 2.5``) on the host, once — the
  neighbour list depends only on distances, so it is the same for every rotation. All eight shapes form one
  static graph of 32 nodes; only the positions change from step to step.
* **edges**: spherical harmonics :math:`Y(\hat r_{ij})` up to ``lmax`` (``o3.SphericalHarmonics``) and a
  smooth radial embedding of :math:`|r_{ij}|` (``math.SoftOneHotLinspace``, ``smooth_finite``, 3 bumps).
* **convolution**: :math:`x'_i = \frac{1}{\sqrt{n}} \sum_{j \in N(i)} \mathrm{TP}_{w(|r_{ij}|)}(x_j, Y(\hat r_{ij}))`,
  an ``o3.FullyConnectedTensorProduct`` whose weights come per edge from a small radial MLP
  (``nn.FullyConnectedNet``), summed on the nodes with :func:`~mindchemistry_e3.util.graph.scatter`.
* **layers**: input node features = sum of the neighbours' :math:`Y`; convolution -> ``nn.Gate`` (even
  scalars through silu; ``1o + 1e + 2o + 2e`` scaled by sigmoid gates) -> convolution to ``0o + 6x0e``
  -> mean over the nodes of each shape (e3nn sums and divides by :math:`\sqrt{4}`; the mean starts training
  from smaller outputs and converges in fewer steps).

Parity: the network is **parity-aware** (E(3), not only SO(3), equivariant). The two chiral shapes are
mirror images of each other, so they are told apart by the sign of one *pseudoscalar* output (``0o``),
exactly as in e3nn: labels ``(+1, 0, ..)`` / ``(-1, 0, ..)``; the six other shapes get one even scalar each.
Consequently the model is also correct on *reflected* copies: a reflected chiral shape *is* the other chiral
shape, and the model, whose ``0o`` output flips sign under inversion, calls it so. Accuracy is measured on
randomly rotated copies, and the final check also uses improper rotations (``-R``), with the chiral labels
swapped. Training uses a fresh random rotation at every step (the model is exactly invariant, so this is
no data augmentation, only an honest check: each step's prediction, taken before the update, is on an
orientation never seen).

Accuracy is e3nn's: a shape is right when every rounded output equals its label.

The train step (forward, ``ms.value_and_grad``, Adam) is one ``nn.Cell`` compiled in GRAPH_MODE.

Run ``python examples/tetris.py`` (``--help`` for options); it prints steps, loss, accuracy, wall and CPU time.

Measured (MindSpore 2.10 CPU, one kernel thread, seed 0, on the project's shared 2-core VM while other jobs
ran): 100 % accuracy first at step 43 (seeds 0-5: steps 21-43), then held; wall time to 100 % 21-43 s from
the start of training, mostly the first graph compilation; the process CPU time to 100 % was 8-13 s, which is
about what an idle core takes. The whole script (with the final checks) used 15-22 s of CPU time.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
from mindspore import nn, ops  # noqa: E402

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, _ROOT)

from mindchemistry_e3 import o3  # noqa: E402
from mindchemistry_e3 import math as e3_math  # noqa: E402
from mindchemistry_e3 import nn as e3_nn  # noqa: E402
from mindchemistry_e3.util.dtype import constant  # noqa: E402
from mindchemistry_e3.util.graph import radius_graph, scatter  # noqa: E402

#: the eight shapes, four cube centres each (lattice units)
SHAPES = np.array([
    [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)],  # chiral shape 1
    [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)],  # chiral shape 2 (mirror image of 1)
    [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)],  # square
    [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)],  # line
    [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)],  # corner
    [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)],  # L
    [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)],  # T
    [(0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)],  # zigzag
], dtype=np.float64)

NAMES = ("chiral_1", "chiral_2", "square", "line", "corner", "L", "T", "zigzag")

#: targets for the outputs ``0o + 6x0e``: the pseudoscalar separates the two mirror images
LABELS = np.array([
    [+1, 0, 0, 0, 0, 0, 0],
    [-1, 0, 0, 0, 0, 0, 0],
    [0, 1, 0, 0, 0, 0, 0],
    [0, 0, 1, 0, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 0],
    [0, 0, 0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 1],
], dtype=np.float64)

IRREPS_OUT = "0o + 6x0e"
NUM_SHAPES, NUM_ATOMS = SHAPES.shape[0], SHAPES.shape[1]


def make_graph(r_max=2.5):
    """Neighbour list of the eight shapes batched as one graph (rotation invariant, so built once).

    Returns ``(edge_src, edge_dst, batch)`` int32 numpy arrays; edge ``k`` carries a message from atom
    ``edge_src[k]`` to atom ``edge_dst[k]``, ``batch[i]`` is the shape of atom ``i``.

    >>> src, dst, batch = make_graph()
    >>> len(batch), len(src) == len(dst)
    (32, True)
    """
    pos = SHAPES.reshape(-1, 3)
    batch = np.repeat(np.arange(NUM_SHAPES), NUM_ATOMS)
    src, dst, _ = radius_graph(pos, r_max, batch=batch)
    return src.astype(np.int32), dst.astype(np.int32), batch.astype(np.int32)


def random_orthogonal(n, rng, reflect=False):
    """``n`` random rotation matrices (``o3.rand_matrix``), times -1 (improper) when ``reflect``; float64 numpy."""
    rot = o3.rand_matrix(n, dtype=ms.float64, seed=rng).asnumpy().astype(np.float64)
    return -rot if reflect else rot


def transformed_shapes(rng, reflect=False):
    """The eight shapes, each under its own random rotation (improper if ``reflect``), as ``[32, 3]`` float64,
    with their labels (chiral labels swapped when reflected: a mirrored chiral shape is the other one).

    >>> pos, labels = transformed_shapes(np.random.default_rng(0), reflect=True)
    >>> pos.shape, labels[0, 0]
    ((32, 3), -1.0)
    """
    rot = random_orthogonal(NUM_SHAPES, rng, reflect)
    pos = np.einsum("zij,zaj->zai", rot, SHAPES).reshape(-1, 3)
    labels = LABELS.copy()
    if reflect:
        labels[:, 0] = -labels[:, 0]
    return pos, labels


def accuracy(pred, labels):
    """Fraction of shapes whose rounded outputs all equal their labels (e3nn's criterion)."""
    pred = np.asarray(pred, dtype=np.float64)
    return float(np.mean(np.all(np.round(pred) == labels, axis=1)))


class Convolution(nn.Cell):
    r"""Point convolution :math:`x'_i = n^{-1/2} \sum_{k: dst_k = i} \mathrm{TP}_{w_k}(x_{src_k}, Y_k)` with
    per-edge weights :math:`w_k = \mathrm{MLP}(\mathrm{emb}(|r_k|))`.

    Args:
        irreps_in (Irreps): node features.
        irreps_sh (Irreps): edge spherical harmonics.
        irreps_out (Irreps): output node features.
        num_basis (int): size of the radial embedding.
        radial_hidden (int): hidden width of the radial MLP.
        num_neighbors (float): typical number of neighbours (normalisation).
        dtype (mindspore.dtype): float32 (default) or float64.

    Inputs:
        - **x** (Tensor) - ``[num_nodes, irreps_in.dim]``.
        - **edge_src**, **edge_dst** (Tensor) - int32 ``[num_edges]``.
        - **edge_sh** (Tensor) - ``[num_edges, irreps_sh.dim]``.
        - **edge_emb** (Tensor) - ``[num_edges, num_basis]``.

    Outputs:
        Tensor ``[num_nodes, irreps_out.dim]``.

    Supported Platforms:
        ``CPU``
    """

    def __init__(self, irreps_in, irreps_sh, irreps_out, num_basis, radial_hidden, num_neighbors,
                 *, dtype=ms.float32):
        super().__init__()
        self.tp = o3.FullyConnectedTensorProduct(irreps_in, irreps_sh, irreps_out, internal_weights=False,
                                                 shared_weights=False, dtype=dtype)
        self.fc = e3_nn.FullyConnectedNet([num_basis, radial_hidden, self.tp.weight_numel], ops.relu, dtype=dtype)
        self.irreps_in = self.tp.irreps_in1
        self.irreps_out = self.tp.irreps_out
        self.norm = constant(np.array([1.0 / math.sqrt(num_neighbors)]), dtype)

    def construct(self, x, edge_src, edge_dst, edge_sh, edge_emb):
        weight = self.fc(edge_emb)
        messages = self.tp(ops.gather(x, edge_src, 0), edge_sh, weight)
        return scatter(messages, edge_dst, x.shape[0]) * self.norm


class TetrisNetwork(nn.Cell):
    r"""E(3)-equivariant classifier of point clouds: positions -> ``0o + 6x0e`` per graph.

    Args:
        num_graphs (int): number of graphs in a batch (a static shape). Default: 8.
        lmax (int): highest degree of the edge spherical harmonics. Default: 2.
        mul (int): multiplicity of the hidden scalars and of each gated irrep. Default: 16.
        lmax_hidden (int): the gated hidden irreps are ``l = 1..lmax_hidden`` of both parities. Default: 2
            (``1o + 1e + 2o + 2e``; with 1 only, training needs two to four times more steps).
        radial_hidden (int): hidden width of the radial MLPs. Default: 32.
        r_max (float): cutoff of the radial embedding (same as the graph's). Default: 2.5.
        num_neighbors (float): typical number of neighbours. Default: 3.8 (e3nn's).
        dtype (mindspore.dtype): float32 (default) or float64.

    Inputs:
        - **pos** (Tensor) - ``[num_nodes, 3]`` positions.
        - **edge_src**, **edge_dst** (Tensor) - int32 ``[num_edges]`` neighbour list.
        - **batch** (Tensor) - int32 ``[num_nodes]`` graph index of every node.

    Outputs:
        Tensor ``[num_graphs, 7]``: ``0o + 6x0e`` (pseudoscalar first).

    Supported Platforms:
        ``CPU``

    Examples:
        >>> src, dst, batch = make_graph()
        >>> net = TetrisNetwork()
        >>> pos, _ = transformed_shapes(np.random.default_rng(0))
        >>> out = net(ms.Tensor(pos, ms.float32), ms.Tensor(src), ms.Tensor(dst), ms.Tensor(batch))
        >>> out.shape
        (8, 7)
    """

    def __init__(self, num_graphs=NUM_SHAPES, lmax=2, mul=16, lmax_hidden=2, radial_hidden=32, r_max=2.5,
                 num_neighbors=3.8, *, dtype=ms.float32):
        super().__init__()
        self.num_graphs = int(num_graphs)
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        self.sh = o3.SphericalHarmonics(self.irreps_sh, True, normalization="component", dtype=dtype)
        num_basis = 3
        self.radial = e3_math.SoftOneHotLinspace(0.5, r_max, num_basis, basis="smooth_finite", cutoff=True,
                                                 dtype=dtype)
        self.radial_scale = constant(np.array([math.sqrt(num_basis)]), dtype)
        self.node_norm = constant(np.array([1.0 / math.sqrt(num_neighbors)]), dtype)
        # hidden layer: mul even scalars (activated) + gates -> mul copies of each l = 1..lmax_hidden, both parities
        irreps_gated = o3.Irreps([(mul, (l, p)) for l in range(1, lmax_hidden + 1) for p in (-1, 1)])
        self.gate = e3_nn.Gate(f"{mul}x0e", [ops.silu], f"{irreps_gated.num_irreps}x0e", [ops.sigmoid], irreps_gated,
                               dtype=dtype)
        self.conv1 = Convolution(self.irreps_sh, self.irreps_sh, self.gate.irreps_in, num_basis, radial_hidden,
                                 num_neighbors, dtype=dtype)
        self.conv2 = Convolution(self.gate.irreps_out, self.irreps_sh, IRREPS_OUT, num_basis, radial_hidden,
                                 num_neighbors, dtype=dtype)
        self.irreps_out = o3.Irreps(IRREPS_OUT)

    def construct(self, pos, edge_src, edge_dst, batch):
        edge_vec = ops.gather(pos, edge_src, 0) - ops.gather(pos, edge_dst, 0)
        edge_len = ops.sqrt((edge_vec * edge_vec).sum(-1))  # no self-loops: never 0
        edge_sh = self.sh(edge_vec)
        edge_emb = self.radial(edge_len) * self.radial_scale
        x = scatter(edge_sh, edge_dst, pos.shape[0]) * self.node_norm
        x = self.conv1(x, edge_src, edge_dst, edge_sh, edge_emb)
        x = self.gate(x)
        x = self.conv2(x, edge_src, edge_dst, edge_sh, edge_emb)
        return scatter(x, batch, self.num_graphs, reduce="mean")


class SquaredError(nn.Cell):
    """Loss of e3nn's example: sum of squared errors over shapes and outputs; also returns the prediction."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, pos, edge_src, edge_dst, batch, labels):
        pred = self.net(pos, edge_src, edge_dst, batch)
        diff = pred - labels
        return (diff * diff).sum(), pred


class TrainStep(nn.Cell):
    """One optimisation step as one compiled graph: loss and gradients (``ms.value_and_grad``), then Adam.

    Returns ``(loss, prediction)``, the prediction made before the update.
    """

    def __init__(self, loss_net, optimizer):
        super().__init__()
        self.optimizer = optimizer
        self.grad_fn = ms.value_and_grad(loss_net, grad_position=None, weights=optimizer.parameters, has_aux=True)

    def construct(self, pos, edge_src, edge_dst, batch, labels):
        (loss, pred), grads = self.grad_fn(pos, edge_src, edge_dst, batch, labels)
        self.optimizer(grads)
        return loss, pred


def evaluate(net, graph, rng, trials=4, reflect=True):
    """Accuracies of ``net`` on ``trials`` fresh random rotations (and as many improper ones if ``reflect``)."""
    src, dst, batch = (ms.Tensor(a) for a in graph)
    accs = []
    for k in range(trials * (2 if reflect else 1)):
        pos, labels = transformed_shapes(rng, reflect=reflect and k % 2 == 1)
        pred = net(ms.Tensor(pos, ms.float32), src, dst, batch).asnumpy()
        accs.append(accuracy(pred, labels))
    return accs


def train(steps=300, lr=2e-2, seed=0, log_every=10, stop_after=None, net_kwargs=None, verbose=True):
    """Train a :class:`TetrisNetwork` in the current MindSpore mode; returns a dict of results.

    Args:
        steps (int): maximum number of steps.
        lr (float): Adam learning rate.
        seed (int): seeds MindSpore (weights) and the rotations.
        log_every (int): print every that many steps (when ``verbose``).
        stop_after (int, optional): stop once that many consecutive steps were 100 % accurate.
        net_kwargs (dict, optional): passed to :class:`TetrisNetwork`.
        verbose (bool): print progress.

    Returns:
        dict with ``net``, ``graph`` (``make_graph()``), ``losses`` and ``accuracies`` (per step, on that step's
        fresh rotation, before the update), ``steps``, ``first_perfect_step`` / ``time_to_perfect_s`` /
        ``cpu_to_perfect_s`` (first step at 100 % and the wall / process CPU time from the start of training,
        compilation included; None if never), ``compile_s`` (wall time of the first step), ``wall_s``, ``cpu_s``.
    """
    ms.set_seed(seed)
    rng = np.random.default_rng(seed)
    graph = make_graph()
    src, dst, batch = (ms.Tensor(a) for a in graph)
    net = TetrisNetwork(**(net_kwargs or {}))
    optimizer = nn.Adam(net.trainable_params(), learning_rate=lr)
    step_cell = TrainStep(SquaredError(net), optimizer)
    step_cell.set_train()

    losses, accs = [], []
    first_perfect, time_to_perfect, cpu_to_perfect, compile_s = None, None, None, None
    streak = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(steps):
        pos, labels = transformed_shapes(rng)
        loss, pred = step_cell(ms.Tensor(pos, ms.float32), src, dst, batch, ms.Tensor(labels, ms.float32))
        loss = float(loss.asnumpy())
        acc = accuracy(pred.asnumpy(), labels)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        if compile_s is None:
            compile_s = elapsed
        losses.append(loss)
        accs.append(acc)
        if acc == 1.0:
            streak += 1
            if first_perfect is None:
                first_perfect, time_to_perfect, cpu_to_perfect = step, elapsed, cpu
        else:
            streak = 0
        if verbose and (step % log_every == 0 or step == steps - 1 or (stop_after and streak >= stop_after)):
            print(f"step {step:4d} | loss {loss:9.4f} | accuracy {100 * acc:5.1f} % | wall {elapsed:6.2f} s | "
                  f"cpu {cpu:6.2f} s", flush=True)
        if stop_after and streak >= stop_after:
            break
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    net.set_train(False)
    return {"net": net, "graph": graph, "losses": losses, "accuracies": accs, "steps": len(losses),
            "first_perfect_step": first_perfect, "time_to_perfect_s": time_to_perfect,
            "cpu_to_perfect_s": cpu_to_perfect, "compile_s": compile_s, "wall_s": wall, "cpu_s": cpu}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="maximum number of training steps")
    parser.add_argument("--lr", type=float, default=2e-2, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop-after", type=int, default=20,
                        help="stop once this many consecutive steps (fresh rotations) are 100 %% accurate")
    parser.add_argument("--threads", type=int, default=1, help="CPU kernel threads")
    parser.add_argument("--pynative", action="store_true", help="run in PYNATIVE_MODE instead of GRAPH_MODE")
    args = parser.parse_args(argv)

    ms.set_device("CPU")
    ms.device_context.cpu.op_tuning.threads_num(args.threads)
    ms.set_context(mode=ms.PYNATIVE_MODE if args.pynative else ms.GRAPH_MODE)
    t_start, c_start = time.perf_counter(), time.process_time()
    result = train(steps=args.steps, lr=args.lr, seed=args.seed, stop_after=args.stop_after)
    net = result["net"]
    print(f"built: {net.conv1.tp!r}\n       {net.conv2.tp!r}\n       "
          f"{sum(p.size for p in net.trainable_params())} trainable parameters")
    print(f"compile + first step: {result['compile_s']:.2f} s; {result['steps']} steps in {result['wall_s']:.2f} s "
          f"(process CPU time {result['cpu_s']:.2f} s)")
    if result["first_perfect_step"] is None:
        print("never reached 100 % accuracy")
    else:
        print(f"100 % accuracy first at step {result['first_perfect_step']}: wall time "
              f"{result['time_to_perfect_s']:.2f} s (CPU time {result['cpu_to_perfect_s']:.2f} s) from the start "
              f"of training, graph compilation included")

    rng = np.random.default_rng(args.seed + 1)
    accs = evaluate(net, result["graph"], rng, trials=8, reflect=True)
    print(f"trained model on 8 new random rotations: {100 * np.mean(accs[0::2]):.1f} %, "
          f"on 8 improper rotations (chiral labels swapped): {100 * np.mean(accs[1::2]):.1f} %")

    pos, _ = transformed_shapes(rng)
    src, dst, batch = (ms.Tensor(a) for a in result["graph"])
    rot = random_orthogonal(1, rng)[0]
    out = net(ms.Tensor(pos, ms.float32), src, dst, batch).asnumpy()
    out_rot = net(ms.Tensor(pos @ rot.T, ms.float32), src, dst, batch).asnumpy()
    print(f"invariance: max |f(R x) - f(x)| = {np.abs(out_rot - out).max():.1e}")
    print(f"total: wall time {time.perf_counter() - t_start:.2f} s, CPU time {time.process_time() - c_start:.2f} s")
    return result


if __name__ == "__main__":
    main()
