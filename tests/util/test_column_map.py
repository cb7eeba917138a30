"""Column maps (pick / repeat / add columns): the numpy plan equals its dense matrix and its adjoint the transpose;
the MindSpore execution matches it and differentiates to first and second order (graph mode, float64)."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn, ops

from mindchemistry_e3.util._cell import plan_tensors
from mindchemistry_e3.util._column_map import take_columns, take_rows
from mindchemistry_e3.util._column_map_np import apply_column_map, column_map, is_identity, transpose
from tests.nn.nn_testing import finite_difference

MAPS = {
    "permutation": ([[2], [0], [1]], 3),
    "repeat": ([[0], [1], [0], [1], [0]], 2),
    "sum_and_zero": ([[2], [0, 1], [], [1]], 3),
    "unused_input": ([[1], [1, 0]], 4),
}


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


def test_identity_and_bad_sources():
    assert is_identity(column_map([[0], [1]], 2), 2) and not is_identity(column_map([[1], [0]], 2), 2)
    with pytest.raises(ValueError, match=r"source column 3 out of range \[0, 3\)"):
        column_map([[3]], 3)


class _Loss(nn.Cell):
    def __init__(self, cmap, c, rows=False):
        super().__init__()
        self.cmap, self.c, self.rows = cmap, c, rows

    def construct(self, x):
        if self.rows:  # the same map on the transposed data
            y = take_rows(ops.transpose(x * x, (1, 0)), self.cmap)
            return (ops.transpose(y, (1, 0)) ** 2 * self.c).sum()
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
    f = _Loss(plan_tensors(cmap, ms.float64), ms.Tensor(c), rows)
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
    f = _GradNorm(_Loss(plan_tensors(cmap, ms.float64), ms.Tensor(c), rows))
    g = ms.grad(f)(ms.Tensor(x)).asnumpy()
    num = finite_difference(lambda v: float(f(ms.Tensor(v)).asnumpy()), x)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
