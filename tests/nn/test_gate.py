"""Gate: e3nn parity (layout, irreps_out, values, gradients), equivariance, 1st/2nd-order gradients, bad input."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3.nn import Gate
from mindchemistry_e3.o3 import Irreps
from tests.nn.nn_testing import batched_finite_difference, irreps_D, random_rotations

ACTS = {"silu": ops.silu, "tanh": ops.tanh, "sigmoid": ops.sigmoid, "abs": ops.abs, "relu": ops.relu,
        "None": None}


def _acts(names):
    return [ACTS[n] for n in str(names).split(",")] if str(names) else []


def _gate(f, dtype=ms.float64):
    return Gate(str(f["irreps_scalars"]), _acts(f["act_scalars"]), str(f["irreps_gates"]), _acts(f["act_gates"]),
                str(f["irreps_gated"]), dtype=dtype)


class _Grad(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ops.GradOperation()

    def energy(self, x, cot):
        return (self.net(x) * cot).sum()

    def construct(self, x, cot):
        return self.net(x), self.grad(self.energy)(x, cot)


@pytest.mark.parametrize("case", range(4))
def test_matches_e3nn(mode, e3nn_fixture, case):
    f = e3nn_fixture(f"nn_layers_gate_{case}")
    gate = _gate(f)
    assert repr(gate.irreps_in) == str(f["irreps_in"])
    assert repr(gate.irreps_out) == str(f["irreps_out"])
    out, grad = _Grad(gate)(ms.Tensor(f["x"]), ms.Tensor(f["cot"]))
    np.testing.assert_allclose(out.asnumpy(), f["out"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad.asnumpy(), f["grad_x"], rtol=1e-10, atol=1e-12)


def test_matches_e3nn_float32(mode, e3nn_fixture):
    f = e3nn_fixture("nn_layers_gate_0")
    out, grad = _Grad(_gate(f, ms.float32))(ms.Tensor(f["x"], ms.float32), ms.Tensor(f["cot"], ms.float32))
    assert out.dtype == ms.float32
    np.testing.assert_allclose(out.asnumpy(), f["out"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad.asnumpy(), f["grad_x"], rtol=1e-5, atol=1e-5)


def test_equivariance(mode):
    gate = Gate("4x0e + 2x0o", [ops.silu, ops.abs], "2x0e + 3x0o", [ops.sigmoid, ops.tanh],
                "2x1o + 1x2e + 1x1e + 1x0e", dtype=ms.float64)
    x = np.random.default_rng(0).standard_normal((3, gate.irreps_in.dim))
    for a, b, g, par in random_rotations(7):
        d_in = irreps_D(gate.irreps_in, a, b, g, par)
        d_out = irreps_D(gate.irreps_out, a, b, g, par)
        np.testing.assert_allclose(gate(ms.Tensor(x @ d_in.T)).asnumpy(), gate(ms.Tensor(x)).asnumpy() @ d_out.T,
                                   atol=1e-12)


def test_first_order_grad(mode):
    gate = Gate("3x0e", [ops.silu], "2x0e + 0o", [ops.sigmoid, ops.tanh], "2x1o + 2e", dtype=ms.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, gate.irreps_in.dim))
    cot = rng.standard_normal(gate.irreps_out.dim)
    _, grad = _Grad(gate)(ms.Tensor(x), ms.Tensor(np.broadcast_to(cot, (2, cot.size)).copy()))
    fd = batched_finite_difference(lambda v: gate(ms.Tensor(v)).asnumpy() @ cot, x)
    np.testing.assert_allclose(grad.asnumpy(), fd, rtol=1e-7, atol=1e-8)


class _ForceLoss(nn.Cell):
    """A force-like loss: L = sum(w * d/dx sum(cot * gate(x))), needs second derivatives wrt x."""

    def __init__(self, net):
        super().__init__()
        self.inner = _Grad(net)

    def construct(self, x, cot, w):
        _, force = self.inner(x, cot)
        return (force * w).sum(-1)


def test_second_order_grad(graph_mode):
    gate = Gate("2x0e", [ops.silu], "2x0e + 0o", [ops.sigmoid, ops.tanh], "2x1o + 2e", dtype=ms.float64)
    dim_in, dim_out = gate.irreps_in.dim, gate.irreps_out.dim
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, dim_in))
    cot = rng.standard_normal(dim_out)
    w = rng.standard_normal(dim_in)
    loss = _ForceLoss(gate)

    def per_sample(v):
        n = v.shape[0]
        return loss(ms.Tensor(v), ms.Tensor(np.tile(cot, (n, 1))), ms.Tensor(np.tile(w, (n, 1)))).asnumpy()

    def total(xx, c, ww):
        return loss(xx, c, ww).sum()

    grad2 = ms.grad(total)(ms.Tensor(x), ms.Tensor(np.tile(cot, (3, 1))), ms.Tensor(np.tile(w, (3, 1))))
    fd = batched_finite_difference(per_sample, x, eps=1e-5)
    np.testing.assert_allclose(grad2.asnumpy(), fd, rtol=1e-6, atol=1e-7)


def test_bad_input():
    with pytest.raises(ValueError, match=r"3 irreps in irreps_gated.*\(2\) of gate scalars"):
        Gate("4x0e", [ops.silu], "2x0e", [ops.sigmoid], "2x1o + 1e")
    with pytest.raises(ValueError, match="gate scalars must be scalars"):
        Gate("4x0e", [ops.silu], "1o", [ops.sigmoid], "1e")
    with pytest.raises(ValueError, match="scalars must be scalars"):
        Gate("1o", [None], "0e", [ops.sigmoid], "1e")
    with pytest.raises(ValueError, match="1 blocks but 2 activation"):
        Gate("4x0e", [ops.silu, ops.tanh], "0e", [ops.sigmoid], "1e")
    with pytest.raises(ValueError, match="parity is violated"):
        Gate("4x0e", [ops.silu], "0o", [ops.sigmoid], "1e")
    gate = Gate("4x0e", [ops.silu], "0e", [ops.sigmoid], "1e")
    with pytest.raises(ValueError, match="size 8"):
        gate(ms.Tensor(np.zeros((2, 7)), ms.float32))


def test_cell_activations(mode):
    """Activations given as Cells (nn.SiLU, nn.Sigmoid) give the same numbers as the ops functions."""
    with_cells = Gate("2x0e", [nn.SiLU()], "2x0e", [nn.Sigmoid()], "1o + 1e", dtype=ms.float64)
    with_ops = Gate("2x0e", [ops.silu], "2x0e", [ops.sigmoid], "1o + 1e", dtype=ms.float64)
    x = ms.Tensor(np.random.default_rng(4).standard_normal((3, 10)))
    np.testing.assert_allclose(with_cells(x).asnumpy(), with_ops(x).asnumpy(), rtol=1e-14)


class _FromLayout(nn.Cell):
    def __init__(self, gate):
        super().__init__()
        self.gate = gate

    def construct(self, x):
        return self.gate(x, True)


@pytest.mark.parametrize("irreps", [("2x0e + 1x0o", "2x0e", "1x1o + 1x1e"),
                                    ("1x0o + 2x0e", "1x0e + 1x0o", "1x1e + 1x2o"), ("", "2x0e", "2x1o")])
def test_in_layout_input_is_the_gate_of_e3nn_layout(irreps, mode):
    """A producer that writes the gate's working layout (``features @ input_map``) gets the gate's output."""
    from mindchemistry_e3.util._column_map_np import apply_column_map

    scalars, gates, gated = irreps
    gate = Gate(scalars, [ops.silu if ir.p == 1 else ops.tanh for _, ir in Irreps(scalars)], gates,
                [ops.sigmoid if ir.p == 1 else ops.tanh for _, ir in Irreps(gates)], gated, dtype=ms.float64)
    x = np.random.default_rng(3).normal(size=(5, gate.irreps_in.dim))
    layout = x if gate.input_map is None else apply_column_map(gate.input_map, x)
    np.testing.assert_allclose(_FromLayout(gate)(ms.Tensor(layout)).asnumpy(), gate(ms.Tensor(x)).asnumpy(),
                               rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="working layout needs shape"):
        _FromLayout(gate)(ms.Tensor(x[:, :-1]))
