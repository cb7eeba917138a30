"""Column maps (pick / repeat / add columns): the numpy plan equals its dense matrix and its adjoint the transpose;
the MindSpore execution matches it and differentiates to first and second order (graph mode, float64)."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn, ops

from mindchemistry_e3.util._cell import plan_tensors
from mindchemistry_e3.util._column_map import take_chunks, take_columns, take_rows
from mindchemistry_e3.util._column_map_np import (apply_column_map, chunked, column_map, column_sources, compose,
                                                   is_identity, transpose)
from tests.nn.nn_testing import finite_difference

MAPS = {
    "permutation": ([[2], [0], [1]], 3),
    "repeat": ([[0], [1], [0], [1], [0]], 2),
    "sum_and_zero": ([[2], [0, 1], [], [1]], 3),
    "unused_input": ([[1], [1, 0]], 4),
}


def in_chunks(sources, size):
    """The column sources of a map that moves whole chunks of ``size`` columns as ``sources`` moves columns."""
    return [None if src is None else [i * size + t for i in src] for src in sources for t in range(size)]


def dense(sources, n_in):
    m = np.zeros((n_in, len(sources)))
    for j, src in enumerate(sources):
        for i in src:
            m[i, j] += 1
    return m


@pytest.mark.parametrize("name", list(MAPS))
def test_map_and_adjoint_equal_the_dense_matrix(name):
    sources, n_in = MAPS[name]
    cmap = column_map(sources, n_in)
    x = np.random.default_rng(0).normal(size=(3, n_in))
    np.testing.assert_allclose(apply_column_map(cmap, x), x @ dense(sources, n_in), atol=1e-15)
    adjoint = transpose(cmap)
    y = np.random.default_rng(1).normal(size=(3, len(sources)))
    np.testing.assert_allclose(apply_column_map(adjoint, y), y @ dense(sources, n_in).T, atol=1e-15)


@pytest.mark.parametrize("name", list(MAPS))
def test_sources_round_trip(name):
    sources, n_in = MAPS[name]
    assert column_sources(column_map(sources, n_in)) == (sources, n_in)
    assert column_sources(column_map(sources + [None], n_in)) == (sources + [None], n_in)


@pytest.mark.parametrize("first", list(MAPS))
def test_compose_equals_the_maps_one_after_the_other(first):
    src1, n_in = MAPS[first]
    rng = np.random.default_rng(2)
    width = len(src1)
    src2 = [sorted(rng.choice(width, size=rng.integers(0, 3), replace=True).tolist()) for _ in range(5)] + [None]
    m1, m2 = column_map(src1, n_in), column_map(src2, width)
    x = rng.normal(size=(3, n_in))
    both = apply_column_map(compose(m1, m2), x)
    np.testing.assert_allclose(both[:, :-1], apply_column_map(m2, apply_column_map(m1, x))[:, :-1], atol=1e-14)
    assert column_sources(compose(m1, m2))[0][-1] is None  # a don't-care column stays one
    assert compose(None, m2) is m2 and compose(m1, None) is m1 and compose(None, None) is None


def test_compose_refuses_to_read_an_undefined_column():
    with pytest.raises(ValueError, match="leaves undefined"):
        compose(column_map([None, [0]], 1), column_map([[0, 1]], 2))


@pytest.mark.parametrize("name", list(MAPS))
def test_chunked_finds_the_chunks_and_moves_them_whole(name):
    sources, n_in = MAPS[name]
    assert chunked(column_map(sources, n_in)).size == 1
    cmap = column_map(in_chunks(sources, 3), 3 * n_in)
    chunks = chunked(cmap)
    assert chunks.size % 3 == 0  # at least the chunks of 3 (more when neighbouring chunks move together)
    x = np.random.default_rng(6).normal(size=(4, 3 * n_in))
    np.testing.assert_allclose(apply_column_map(chunks, x), apply_column_map(cmap, x), atol=1e-15)
    assert column_sources(chunks.map) == (sources, n_in) or chunks.size > 3


def test_chunked_keeps_columns_when_a_chunk_is_broken():
    sources = in_chunks([[1], [0]], 2)
    sources[3] = [0]  # the second chunk's second column reads the wrong column
    assert chunked(column_map(sources, 4)).size == 1
    assert chunked(column_map(in_chunks([[1], None], 2), 4)).size == 2  # a don't-care chunk stays one


def test_identity_and_bad_sources():
    assert is_identity(column_map([[0], [1]], 2), 2) and not is_identity(column_map([[1], [0]], 2), 2)
    with pytest.raises(ValueError, match=r"source column 3 out of range \[0, 3\)"):
        column_map([[3]], 3)


class _Loss(nn.Cell):
    def __init__(self, cmap, c, how="columns"):
        super().__init__()
        self.cmap, self.c, self.how = cmap, c, how

    def construct(self, x):
        if self.how == "rows":  # the same map on the transposed data
            y = take_rows(ops.transpose(x * x, (1, 0)), self.cmap)
            return (ops.transpose(y, (1, 0)) ** 2 * self.c).sum()
        if self.how == "chunks":  # a ChunkedMap
            y = take_chunks(x * x, self.cmap)
            return (y * y * self.c).sum()
        y = take_columns(x * x, self.cmap)
        return (y * y * self.c).sum()


class _GradNorm(nn.Cell):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def construct(self, x):
        g = ms.grad(self.f)(x)
        return (g * g).sum()


@pytest.mark.parametrize("rows", [False, True], ids=["columns", "rows"])
@pytest.mark.parametrize("name", list(MAPS))
def test_take_columns_values_and_gradients(name, rows, mode):
    sources, n_in = MAPS[name]
    cmap = column_map(sources, n_in)
    x = np.random.default_rng(2).normal(size=(2, n_in))
    c = np.random.default_rng(3).normal(size=(len(sources),))
    f = _Loss(plan_tensors(cmap, ms.float64), ms.Tensor(c), "rows" if rows else "columns")
    np.testing.assert_allclose(take_columns(ms.Tensor(x), f.cmap).asnumpy(), apply_column_map(cmap, x), atol=1e-15)
    np.testing.assert_allclose(take_rows(ms.Tensor(x.T.copy()), f.cmap).asnumpy(), apply_column_map(cmap, x).T,
                               atol=1e-15)

    def ref(v):
        return float((apply_column_map(cmap, v * v) ** 2 * c).sum())

    np.testing.assert_allclose(ms.grad(f)(ms.Tensor(x)).asnumpy(), finite_difference(ref, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("rows", [False, True], ids=["columns", "rows"])
@pytest.mark.parametrize("name", ["repeat", "sum_and_zero"])
def test_take_columns_second_order(name, rows, graph_mode):
    sources, n_in = MAPS[name]
    cmap = column_map(sources, n_in)
    x = np.random.default_rng(4).normal(size=(2, n_in))
    c = np.random.default_rng(5).normal(size=(len(sources),))
    f = _GradNorm(_Loss(plan_tensors(cmap, ms.float64), ms.Tensor(c), "rows" if rows else "columns"))
    g = ms.grad(f)(ms.Tensor(x)).asnumpy()
    num = finite_difference(lambda v: float(f(ms.Tensor(v)).asnumpy()), x)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["permutation", "sum_and_zero"])
def test_take_chunks_values_and_gradients(name, mode):
    sources, n_in = MAPS[name]
    cmap = column_map(in_chunks(sources, 2), 2 * n_in)
    chunks = chunked(cmap)
    assert chunks.size == 2
    x = np.random.default_rng(7).normal(size=(3, 2 * n_in))
    c = np.random.default_rng(8).normal(size=(2 * len(sources),))
    f = _Loss(plan_tensors(chunks, ms.float64), ms.Tensor(c), "chunks")
    np.testing.assert_allclose(take_chunks(ms.Tensor(x), f.cmap).asnumpy(), apply_column_map(cmap, x), atol=1e-15)

    def ref(v):
        return float((apply_column_map(cmap, v * v) ** 2 * c).sum())

    np.testing.assert_allclose(ms.grad(f)(ms.Tensor(x)).asnumpy(), finite_difference(ref, x), rtol=1e-6, atol=1e-8)


def test_take_chunks_second_order(graph_mode):
    sources, n_in = MAPS["sum_and_zero"]
    chunks = chunked(column_map(in_chunks(sources, 2), 2 * n_in))
    x = np.random.default_rng(9).normal(size=(2, 2 * n_in))
    c = np.random.default_rng(10).normal(size=(2 * len(sources),))
    f = _GradNorm(_Loss(plan_tensors(chunks, ms.float64), ms.Tensor(c), "chunks"))
    g = ms.grad(f)(ms.Tensor(x)).asnumpy()
    num = finite_difference(lambda v: float(f(ms.Tensor(v)).asnumpy()), x)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
