"""NequIP's fused convolution: the numpy plan against e3nn's per-path formulas, the Cell against the plan and
against the interaction block's TensorProduct path, gradients against finite differences (float64)."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn

from applications.nequip.model import InteractionBlock
from applications.nequip.model.convolution import Convolution
from applications.nequip.model.convolution_plan import (build_convolution_plan, convolution_plan_supported,
                                                        execute_convolution_plan)
from mindchemistry_e3.o3 import Irreps
from mindchemistry_e3.o3._tensor_product._plan import naive_tensor_product, normalize_instructions
from tests.nn.nn_testing import finite_difference

F64 = ms.float64

CASES = [  # (node irreps, harmonics, candidate output irreps): NequIP's first and later layers, l_max 0 to 3
    ("5x0e", "0e", "5x0e"),
    ("5x0e", "0e + 1o", "5x0e + 5x0o + 5x1o + 5x1e"),
    ("5x0e + 5x0o + 5x1o + 5x1e", "0e + 1o", "5x0e + 5x0o + 5x1o + 5x1e"),
    ("3x0e + 3x1e + 3x2e", "0e + 1e + 2e", "3x0e + 3x1e + 3x2e"),
    ("2x0e + 2x0o + 2x1o + 2x1e + 2x2e + 2x2o + 2x3o + 2x3e", "0e + 1o + 2e + 3o",
     "2x0e + 2x0o + 2x1o + 2x1e + 2x2e + 2x2o + 2x3o + 2x3e"),
]


def uvu_instructions(irreps_in, irreps_sh, irreps_hidden):
    """NequIP's instructions (as InteractionBlock builds them): every reachable irrep, outputs sorted."""
    irreps_in, irreps_sh, irreps_hidden = Irreps(irreps_in), Irreps(irreps_sh), Irreps(irreps_hidden)
    mid, ins = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in irreps_hidden:
                    ins.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    mid, perm, _ = Irreps(mid).sort()
    return irreps_in, irreps_sh, mid, [(a, b, perm[c], m, t) for a, b, c, m, t in ins]


def random_graph(plan, num_nodes=6, num_edges=17, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_nodes, plan.irreps_in.dim))
    sh = rng.normal(size=(num_edges, plan.d2))
    w = rng.normal(size=(num_edges, plan.weight_numel))
    src = rng.integers(0, num_nodes, num_edges).astype(np.int32)
    dst = rng.integers(0, num_nodes, num_edges).astype(np.int32)
    return x, sh, w, src, dst


def reference(plan, x, sh, w, src, dst):
    """e3nn's formulas path by path (independent of the plan), messages summed at dst."""
    ins = normalize_instructions(plan.irreps_in, plan.irreps_sh, plan.irreps_out,
                                 [(i.i_in1, i.i_in2, i.i_out, i.connection_mode, i.has_weight)
                                  for i in plan.instructions])
    msg = naive_tensor_product(plan.irreps_in, plan.irreps_sh, plan.irreps_out, ins, x[src], sh, w,
                               shared_weights=False)
    out = np.zeros((x.shape[0], plan.irreps_out.dim))
    np.add.at(out, dst, msg)
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0].replace(" ", ""))
def test_plan_matches_per_path_formulas(case):
    plan = build_convolution_plan(*uvu_instructions(*case))
    x, sh, w, src, dst = random_graph(plan)
    ref = reference(plan, x, sh, w, src, dst)
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(execute_convolution_plan(plan, x, sh, w, src, dst, 6), ref, rtol=0, atol=1e-12)
    assert sorted(plan.weight_perm.tolist()) == list(range(plan.weight_numel))
    assert [b.d3 for b in plan.blocks] == sorted({b.d3 for b in plan.blocks})  # one block per dimension here


def test_plan_rejects_what_it_cannot_execute():
    assert not convolution_plan_supported("4x0e + 2x1o", "0e + 1o", "2x1o", [(1, 0, 0, "uvu", True)])
    assert not convolution_plan_supported("4x0e", "2x1o", "4x1o", [(0, 0, 0, "uvu", True)])
    assert not convolution_plan_supported("4x0e", "1o", "4x1o", [(0, 0, 0, "uvu", False)])
    assert not convolution_plan_supported("4x0e", "1o", "4x1o", [(0, 0, 0, "uvw", True)])
    with pytest.raises(ValueError, match=r"4x0e\+2x1o"):
        build_convolution_plan("4x0e + 2x1o", "0e + 1o", "2x1o", [(1, 0, 0, "uvu", True)])


@pytest.mark.parametrize("case", CASES[1:3] + CASES[4:], ids=lambda c: c[0].replace(" ", ""))
def test_cell_matches_plan(case, mode):
    conv = Convolution(*uvu_instructions(*case), scale=0.5, dtype=F64)
    x, sh, w, src, dst = random_graph(conv.plan)
    out = conv(ms.Tensor(x, F64), ms.Tensor(sh, F64), ms.Tensor(w[:, conv.weight_perm], F64), ms.Tensor(src),
               ms.Tensor(dst)).asnumpy()
    np.testing.assert_allclose(out, 0.5 * reference(conv.plan, x, sh, w, src, dst), rtol=0, atol=1e-12)


def test_cell_names_bad_shapes():
    conv = Convolution("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o", [(0, 0, 0, "uvu", True), (1, 0, 1, "uvu", True)],
                       dtype=F64)
    with pytest.raises(ValueError, match=r"\[N, 8\].*2x0e\+2x1o"):
        conv(ms.Tensor(np.ones((3, 7))), ms.Tensor(np.ones((2, 4))), ms.Tensor(np.ones((2, 4))),
             ms.Tensor([0, 1], ms.int32), ms.Tensor([1, 2], ms.int32))


@pytest.mark.parametrize("case", [CASES[2], CASES[3]], ids=lambda c: c[0].replace(" ", ""))
def test_interaction_block_fused_equals_tensor_product_path(case, mode):
    irreps_in, irreps_sh, irreps_hidden = case
    blocks = []
    for _ in range(2):
        ms.set_seed(3)
        blocks.append(InteractionBlock(irreps_in, irreps_hidden, irreps_sh, num_types=2, num_basis=8,
                                       radial_mlp_layers=2, radial_mlp_neurons=16, avg_num_neighbors=3.0,
                                       dtype=F64))
    fused, plain = blocks
    assert fused.convolution is not None
    plain.convolution = None  # the same parameters through o3.TensorProduct + gather / segment sum
    for a, b in zip(fused.get_parameters(), plain.get_parameters()):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    rng = np.random.default_rng(1)
    n, e = 7, 20
    args = (ms.Tensor(rng.normal(size=(n, Irreps(irreps_in).dim)), F64),
            ms.Tensor(np.eye(2)[rng.integers(0, 2, n)], F64),
            ms.Tensor(rng.normal(size=(e, Irreps(irreps_sh).dim)), F64), ms.Tensor(rng.normal(size=(e, 8)), F64),
            ms.Tensor(rng.integers(0, n, e).astype(np.int32)), ms.Tensor(rng.integers(0, n, e).astype(np.int32)))
    ref = plain(*args).asnumpy()
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(fused(*args).asnumpy(), ref, rtol=0, atol=1e-12)


class _Projected(nn.Cell):
    """``sum(conv(x, sh, w) * c)``: a scalar whose gradient is every input's."""

    def __init__(self, conv, c, src, dst):
        super().__init__()
        self.conv, self.c, self.src, self.dst = conv, c, src, dst

    def construct(self, x, sh, w):
        return (self.conv(x, sh, w, self.src, self.dst) * self.c).sum()


class _SecondOrder(nn.Cell):
    """``|d/dsh sum(conv * c)|^2``: the shape of a force loss (the harmonics carry the positions)."""

    def __init__(self, projected):
        super().__init__()
        self.projected = projected

    def construct(self, x, sh, w):
        g = ms.grad(self.projected, grad_position=1)(x, sh, w)
        return (g * g).sum()


@pytest.mark.parametrize("order", [1, 2])
def test_gradients_match_finite_differences(order, graph_mode):
    conv = Convolution(*uvu_instructions("2x0e + 2x0o + 2x1o + 2x1e", "0e + 1o", "2x0e + 2x0o + 2x1o + 2x1e"),
                       scale=0.7, dtype=F64)
    x, sh, w, src, dst = random_graph(conv.plan, num_edges=8, seed=2)
    c = np.random.default_rng(3).normal(size=(6, conv.plan.irreps_out.dim))
    f = _Projected(conv, ms.Tensor(c, F64), ms.Tensor(src), ms.Tensor(dst))
    if order == 2:
        f = _SecondOrder(f)
    inputs = [x, sh, w]
    grads = ms.grad(f, grad_position=(0, 1, 2))(*[ms.Tensor(a, F64) for a in inputs])
    for i, g in enumerate(grads):
        def fi(a, i=i):
            args = [ms.Tensor(b, F64) for b in inputs]
            args[i] = ms.Tensor(a, F64)
            return float(f(*args).asnumpy())
        num = finite_difference(fi, inputs[i])
        np.testing.assert_allclose(g.asnumpy(), num, rtol=1e-6, atol=1e-6 * np.abs(num).max())
