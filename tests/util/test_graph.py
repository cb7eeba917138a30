"""Tests for mindchemistry_e3.util.graph: radius_graph (vs brute force and ASE), scatter, gather_rows and
segment_sum (values, first- and second-order gradients against finite differences)."""
import itertools

import numpy as np
import pytest
import mindspore as ms
from mindspore import nn, ops

from mindchemistry_e3.util.graph import gather_rows, radius_graph, scatter, segment_sum


def brute_force(pos, r_max, cell=None, pbc=(False, False, False), self_interaction=False, n_img=4):
    """Every (i, j, S) with |pos[j] - pos[i] + S @ cell| < r_max, by looping over a generous image range."""
    pbc = np.broadcast_to(np.asarray(pbc, bool), (3,))
    ranges = [range(-n_img, n_img + 1) if p else range(1) for p in pbc]
    cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, float)
    edges = set()
    for s in itertools.product(*ranges):
        s = np.array(s)
        vec = pos[None, :, :] - pos[:, None, :] + s @ cell  # [i, j]
        d = np.linalg.norm(vec, axis=-1)
        for i, j in zip(*np.nonzero(d < r_max)):
            if i == j and not s.any() and not self_interaction:
                continue
            edges.add((int(i), int(j), *map(int, s)))
    if self_interaction:
        edges |= {(i, i, 0, 0, 0) for i in range(len(pos))}
    return edges


def as_set(src, dst, shift):
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(src, dst, shift)}


def test_matches_brute_force_open():
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 4, size=(30, 3))
    for r in (0.7, 1.5, 3.0):
        got = as_set(*radius_graph(pos, r))
        assert got == brute_force(pos, r)
        assert len(got) > 0
    got = as_set(*radius_graph(pos, 1.5, self_interaction=True))
    assert got == brute_force(pos, 1.5, self_interaction=True)


@pytest.mark.parametrize("case", ["cubic", "skewed_small", "partial_pbc", "unwrapped"])
def test_matches_brute_force_periodic(case):
    rng = np.random.default_rng(1)
    if case == "cubic":
        cell, pbc, n, r = 4.0 * np.eye(3), [True] * 3, 12, 2.5
    elif case == "skewed_small":  # atoms see several images of the same neighbour and of themselves
        cell, pbc, n, r = np.array([[1.6, 0, 0], [1.2, 1.4, 0], [0.5, 0.7, 1.5]]), [True] * 3, 3, 2.2
    elif case == "partial_pbc":
        cell, pbc, n, r = np.array([[2.0, 0, 0], [0.3, 2.5, 0], [0, 0, 6.0]]), [True, True, False], 6, 2.3
    else:  # positions far outside the cell: shifts must refer to the given (unwrapped) positions
        cell, pbc, n, r = np.array([[3.0, 0, 0], [1.0, 3.0, 0], [0, 0.5, 3.0]]), [True] * 3, 8, 2.0
    frac = rng.uniform(0, 1, size=(n, 3))
    if case == "unwrapped":
        frac += rng.integers(-3, 4, size=(n, 3))
    pos = frac @ cell
    src, dst, shift = radius_graph(pos, r, cell=cell, pbc=pbc)
    assert as_set(src, dst, shift) == brute_force(pos, r, cell, pbc, n_img=10 if case == "unwrapped" else 5)
    vec = pos[dst] - pos[src] + shift @ cell
    assert np.all(np.linalg.norm(vec, axis=1) < r)
    if case == "skewed_small":
        pairs = list(zip(src.tolist(), dst.tolist()))
        assert max(pairs.count(p) for p in set(pairs)) > 2  # several images of one neighbour
        assert any(a == b for a, b in pairs)  # images of an atom itself
    assert shift.dtype == np.int64 and src.dtype == np.int64


def test_symmetric_and_sorted():
    rng = np.random.default_rng(2)
    cell = np.array([[2.5, 0, 0], [0.8, 2.2, 0], [0.1, 0.3, 2.7]])
    pos = rng.uniform(0, 2, size=(5, 3))
    src, dst, shift = radius_graph(pos, 3.0, cell=cell)
    edges = as_set(src, dst, shift)
    assert {(j, i, -a, -b, -c) for i, j, a, b, c in edges} == edges
    keys = list(zip(src, dst, *shift.T))
    assert keys == sorted(keys)


def test_matches_ase():
    ase = pytest.importorskip("ase")
    from ase.neighborlist import neighbor_list

    rng = np.random.default_rng(3)
    cell = np.array([[2.1, 0.0, 0.0], [1.0, 1.9, 0.0], [0.4, 0.6, 2.3]])
    pos = (rng.uniform(-0.5, 1.5, size=(4, 3))) @ cell
    for pbc in ([True, True, True], [True, False, True]):
        atoms = ase.Atoms("H4", positions=pos, cell=cell, pbc=pbc)
        i, j, s = neighbor_list("ijS", atoms, 3.1)
        assert as_set(*radius_graph(pos, 3.1, cell=cell, pbc=pbc)) == as_set(i, j, s)


def test_batch_keeps_graphs_apart():
    pos = np.array([[0.0, 0, 0], [0.5, 0, 0], [0.2, 0, 0], [0.7, 0, 0]])
    src, dst, _ = radius_graph(pos, 1.0, batch=np.array([0, 0, 1, 1]))
    assert as_set(src, dst, np.zeros((len(src), 3))) == {(0, 1, 0, 0, 0), (1, 0, 0, 0, 0),
                                                          (2, 3, 0, 0, 0), (3, 2, 0, 0, 0)}


def test_bad_input():
    pos = np.zeros((2, 3))
    with pytest.raises(ValueError, match="r_max"):
        radius_graph(pos, -1.0)
    with pytest.raises(ValueError, match="r_max"):
        radius_graph(pos, 0.0)
    with pytest.raises(ValueError, match=r"\[num_atoms, 3\]"):
        radius_graph(np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match="singular"):
        radius_graph(pos, 1.0, cell=np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]]))
    with pytest.raises(ValueError, match="cell must have shape"):
        radius_graph(pos, 1.0, cell=np.eye(2))
    with pytest.raises(ValueError, match="needs a cell"):
        radius_graph(pos, 1.0, pbc=True)
    with pytest.raises(ValueError, match="batch"):
        radius_graph(pos, 1.0, cell=np.eye(3), batch=np.array([0, 0]))


# ----------------------------------------------------------------------------------------------- scatter

def test_scatter_values(mode):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(7, 2, 3))
    idx = np.array([0, 2, 2, 4, 0, 0, 2])
    want_sum = np.zeros((5, 2, 3))
    np.add.at(want_sum, idx, x)
    count = np.bincount(idx, minlength=5).reshape(5, 1, 1)
    want_mean = want_sum / np.maximum(count, 1)

    class Net(nn.Cell):
        def construct(self, a, i):
            return scatter(a, i, 5), scatter(a, i, 5, reduce="mean")

    s, m = Net()(ms.Tensor(x), ms.Tensor(idx, ms.int32))
    np.testing.assert_allclose(s.asnumpy(), want_sum, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.asnumpy(), want_mean, rtol=1e-12, atol=1e-12)
    assert s.dtype == ms.float64


class _Energy(nn.Cell):
    """E(x, w) = sum_i (scatter_{edges -> i} sin(w * (x[dst] - x[src])))^2: a toy energy on a graph."""

    def __init__(self, src, dst, n, reduce, ours=False):
        super().__init__()
        self.src, self.dst, self.n, self.reduce, self.ours = src, dst, n, reduce, ours

    def construct(self, x, w):
        if self.ours:  # our gather and a second scatter back onto the edges (both custom gradients, twice)
            msg = ops.sin(w * (gather_rows(x, self.dst) - gather_rows(x, self.src)))
            agg = scatter(msg, self.dst, self.n, reduce=self.reduce)
            agg = agg + segment_sum(gather_rows(ops.cos(agg), self.src) * msg, self.dst, self.n)
        else:
            msg = ops.sin(w * (ops.gather(x, self.dst, 0) - ops.gather(x, self.src, 0)))
            agg = scatter(msg, self.dst, self.n, reduce=self.reduce)
        return (agg * agg).sum()


class _ForceLoss(nn.Cell):
    """L(x, w) = sum(c * dE/dx): differentiating L w.r.t. w needs second-order gradients through scatter."""

    def __init__(self, energy):
        super().__init__()
        self.energy = energy
        self.grad_x = ops.GradOperation()

    def construct(self, x, w, c):
        return (self.grad_x(self.energy)(x, w) * c).sum()


@pytest.mark.parametrize("ours", [False, True])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_first_order_grad(mode, reduce, ours):
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(5, 3)), rng.normal(size=(3,))
    src, dst = np.array([0, 1, 2, 3, 4, 0, 2]), np.array([1, 0, 3, 2, 0, 4, 1])
    net = _Energy(ms.Tensor(src, ms.int32), ms.Tensor(dst, ms.int32), 5, reduce, ours)
    g = ms.grad(net, grad_position=0)(ms.Tensor(x), ms.Tensor(w)).asnumpy()
    eps, fd = 1e-6, np.zeros_like(x)
    for k in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[k] += eps
        xm[k] -= eps
        fd[k] = (net(ms.Tensor(xp), ms.Tensor(w)).asnumpy() - net(ms.Tensor(xm), ms.Tensor(w)).asnumpy()) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("ours", [False, True])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_second_order_grad(graph_mode, reduce, ours):
    rng = np.random.default_rng(6)
    x, w, c = rng.normal(size=(5, 3)), rng.normal(size=(3,)), rng.normal(size=(5, 3))
    src, dst = np.array([0, 1, 2, 3, 4, 0, 2]), np.array([1, 0, 3, 2, 0, 4, 1])
    loss = _ForceLoss(_Energy(ms.Tensor(src, ms.int32), ms.Tensor(dst, ms.int32), 5, reduce, ours))
    gx, gw = ms.grad(loss, grad_position=(0, 1))(ms.Tensor(x), ms.Tensor(w), ms.Tensor(c))

    def f(xx, ww):
        return float(loss(ms.Tensor(xx), ms.Tensor(ww), ms.Tensor(c)).asnumpy())

    eps = 1e-6
    fd_w = np.array([(f(x, w + eps * e) - f(x, w - eps * e)) / (2 * eps) for e in np.eye(3)])
    fd_x = np.zeros_like(x)
    for k in np.ndindex(*x.shape):
        d = np.zeros_like(x)
        d[k] = eps
        fd_x[k] = (f(x + d, w) - f(x - d, w)) / (2 * eps)
    np.testing.assert_allclose(gw.asnumpy(), fd_w, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gx.asnumpy(), fd_x, rtol=1e-6, atol=1e-8)


def test_gather_rows_and_segment_sum_values(mode):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 2, 3))
    idx = np.array([3, 0, 0, 2, 3, 1, 3])

    class Net(nn.Cell):
        def construct(self, a, i):
            return gather_rows(a, i), segment_sum(gather_rows(a, i), i, 4)

    g, s = Net()(ms.Tensor(x), ms.Tensor(idx, ms.int32))
    np.testing.assert_array_equal(g.asnumpy(), x[idx])
    np.testing.assert_allclose(s.asnumpy(), x * np.bincount(idx, minlength=4).reshape(4, 1, 1), rtol=1e-14)


def test_scatter_bad_input():
    x = ms.Tensor(np.ones((3, 2)))
    with pytest.raises(ValueError, match="reduce"):
        scatter(x, ms.Tensor([0, 1, 1], ms.int32), 2, reduce="max")
    with pytest.raises(ValueError, match="index"):
        scatter(x, ms.Tensor([0, 1], ms.int32), 2)
    with pytest.raises(ValueError, match="dim_size"):
        scatter(x, ms.Tensor([0, 1, 1], ms.int32), ms.Tensor(2))


def test_radius_graph_torch_cluster_form():
    """A MindSpore Tensor in: torch_cluster's semantics (rows = (neighbour j, centre i)), an int64 Tensor out."""
    rng = np.random.default_rng(3)
    pos = rng.uniform(0, 3, (12, 3))
    batch = np.repeat([0, 1], 6)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    same = batch[:, None] == batch[None]
    i, j = np.nonzero((d < 1.6) & same & ~np.eye(12, dtype=bool))  # row-major: sorted by (i, j)
    edge_index = radius_graph(ms.Tensor(pos), 1.6, ms.Tensor(batch), max_num_neighbors=11)
    assert isinstance(edge_index, ms.Tensor) and edge_index.dtype == ms.int64
    np.testing.assert_array_equal(edge_index.asnumpy(), np.stack([j, i]))
    swapped = radius_graph(ms.Tensor(pos), 1.6, ms.Tensor(batch), max_num_neighbors=11, flow="target_to_source")
    np.testing.assert_array_equal(swapped.asnumpy(), np.stack([i, j]))
    with_loops = radius_graph(ms.Tensor(pos), 1.6, batch=ms.Tensor(batch), loop=True, max_num_neighbors=12)
    assert with_loops.shape[1] == len(i) + 12
    few = radius_graph(ms.Tensor(pos), 1.6, ms.Tensor(batch), False, 2).asnumpy()  # positional, as e3nn calls it
    for centre in range(12):
        kept = few[0][few[1] == centre]
        near = j[i == centre][np.argsort(d[centre, j[i == centre]], kind="stable")][:2]
        assert sorted(kept.tolist()) == sorted(near.tolist())
    with pytest.raises(ValueError, match="flow"):
        radius_graph(ms.Tensor(pos), 1.6, flow="both")


def test_scatter_torch_scatter_form(mode):
    """scatter(src, index, dim=..., dim_size=..., reduce=...) and dim_size inferred from the index."""
    src = ms.Tensor(np.arange(12.0).reshape(3, 4))
    index = ms.Tensor(np.array([0, 2, 0]), ms.int64)
    expect = np.zeros((3, 4))
    np.add.at(expect, index.asnumpy(), src.asnumpy())
    np.testing.assert_allclose(scatter(src, index, dim=0, dim_size=3).asnumpy(), expect)
    np.testing.assert_allclose(scatter(src, index, dim=0, reduce="add").asnumpy(), expect)  # dim_size = 3
    col = ms.Tensor(np.array([1, 1, 0, 1]), ms.int32)
    np.testing.assert_allclose(scatter(src, col, dim=-1, reduce="mean").asnumpy(),
                               np.stack([src.asnumpy()[:, 2], src.asnumpy()[:, [0, 1, 3]].mean(1)], axis=1))
    with pytest.raises(ValueError, match="out="):
        scatter(src, index, 3, out=src)
    with pytest.raises(ValueError, match="dim"):
        scatter(src, index, 3, dim=2)
