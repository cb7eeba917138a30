"""NequIP model: radial basis, forces = -dE/dr, stress = strain derivative, E(3) symmetry, padding, second-order
gradients of the loss (float64, GRAPH_MODE: PyNative higher-order gradients are silently wrong)."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn, ops

from applications.nequip.data import AtomicData, TypeMapper, build_neighbors, collate
from applications.nequip.model import (EnergyForceModel, InteractionBlock, LossNet, NequIP, PolynomialCutoff,
                                       RadialEmbedding, BesselBasis, MODEL_INPUTS, LABEL_INPUTS)
from applications.nequip.model.radial import bessel_basis_np, polynomial_cutoff_np
from applications.nequip.train import batch_inputs
from tests.applications.nequip.conftest import molecules, needs_model, small_net

F64 = ms.float64
MAPPER = TypeMapper([1, 6, 8])


def rand_rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


# ------------------------------------------------------------------------------------------------ radial basis

def test_polynomial_cutoff_matches_formula_and_is_smooth(mode):
    r = np.array([0.0, 0.5, 1.7, 2.9999, 3.0, 3.5])
    out = PolynomialCutoff(3.0, 6, dtype=F64)(ms.Tensor(r, F64)).asnumpy()
    x = r / 3.0
    ref = np.where(x < 1, 1 - 28 * x ** 6 + 48 * x ** 7 - 21 * x ** 8, 0.0)   # p = 6 written out
    np.testing.assert_allclose(out, ref, atol=1e-14)
    np.testing.assert_allclose(out, polynomial_cutoff_np(r, 3.0), atol=1e-14)
    # value, first and second derivative vanish at the cutoff: f(r_max - d) ~ d^3 from the left
    d = 3e-4
    f1, f2 = polynomial_cutoff_np(np.array([3.0 - d, 3.0 - 2 * d]), 3.0)
    assert f1 > 0 and abs(f2 / f1 - 8.0) < 0.05


def test_bessel_basis_matches_numpy(mode):
    r = np.array([[0.3], [1.0], [2.5]])
    basis = BesselBasis(3.0, 8, dtype=F64)
    np.testing.assert_allclose(basis(ms.Tensor(r, F64)).asnumpy(), bessel_basis_np(r[:, 0], 3.0, 8), rtol=1e-13)
    assert basis.bessel_weights.requires_grad
    assert not BesselBasis(3.0, 8, trainable=False).bessel_weights.requires_grad


class _RadialSum(nn.Cell):
    def __init__(self):
        super().__init__()
        self.emb = RadialEmbedding(3.0, 8, dtype=F64)

    def construct(self, vec, mask):
        r2 = (vec * vec).sum(-1, keepdims=True)
        nz = r2 > 0
        r = ops.where(nz, ops.sqrt(ops.where(nz, r2, ops.ones_like(r2))), ops.zeros_like(r2))
        return (self.emb(r, mask) ** 2).sum()


class _GradNorm(nn.Cell):
    def __init__(self, f):
        super().__init__()
        self.g = ms.grad(f, grad_position=0)

    def construct(self, vec, mask):
        return (self.g(vec, mask) ** 2).sum()


def test_radial_padded_edges_give_zero_and_finite_gradients(graph_mode):
    vec = ms.Tensor(np.array([[1.0, 0.5, 0.2], [0.0, 0.0, 0.0], [3.5, 0.0, 0.0]]), F64)
    mask = ms.Tensor(np.array([[1.0], [0.0], [1.0]]), F64)
    emb = RadialEmbedding(3.0, 8, dtype=F64)
    out = emb(ms.Tensor(np.array([[1.0], [0.0], [3.5]]), F64), mask).asnumpy()
    assert np.all(out[1] == 0) and np.all(out[2] == 0) and np.all(np.isfinite(out))
    f = _RadialSum()
    g1 = ms.grad(f, grad_position=0)(vec, mask).asnumpy()
    g2 = ms.grad(_GradNorm(f), grad_position=0)(vec, mask).asnumpy()
    assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))
    assert np.all(g1[1] == 0) and np.all(g2[1] == 0)


# ------------------------------------------------------------------------------------------------ the model

#: One padded shape for every evaluation below, so the model compiles once (compiles dominate the test time).
PAD = {"n_pad": 32, "e_pad": 256, "num_graphs": 2}


@pytest.fixture(scope="module")
def mol_model():
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(1)
    model = EnergyForceModel(small_net(), compute_stress=True)
    yield model
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture(scope="module")
def mol_frames():
    return build_neighbors(molecules(2, seed=3), 3.0)


def with_edges_of(frame, pos, cell=None):
    """``frame`` moved to ``pos`` (and ``cell``), keeping its neighbour list (for finite differences)."""
    out = AtomicData(pos=pos, atomic_numbers=frame.atomic_numbers, cell=cell, pbc=frame.pbc if cell is not None
                     else None)
    out.edge_src, out.edge_dst, out.edge_shift = frame.edge_src, frame.edge_dst, frame.edge_shift
    return out


def evaluate(model, frames):
    """Energies, per-structure forces and stresses (numpy) of unpadded structures."""
    b = collate(frames, MAPPER, dtype=np.float64, **PAD)
    e, f, s = (t.asnumpy() for t in model(*batch_inputs(b, F64, labels=False)))
    forces = [f[(b.batch == g) & (b.atom_mask[:, 0] > 0)] for g in range(b.num_graphs)]
    return e[:b.num_graphs], forces, s[:b.num_graphs]


@pytest.mark.slow
@needs_model
def test_forces_are_minus_energy_gradient(mol_model, mol_frames, graph_mode):
    frame = mol_frames[0]
    _, f0, _ = evaluate(mol_model, [frame])
    assert np.all(np.isfinite(f0[0])) and np.abs(f0[0]).max() > 1e-3
    h = 1e-5
    fd = np.zeros_like(frame.pos)
    for i in range(frame.num_atoms):
        for c in range(3):
            for sign in (1, -1):
                p = frame.pos.copy()
                p[i, c] += sign * h
                fd[i, c] -= sign * evaluate(mol_model, [with_edges_of(frame, p)])[0][0] / (2 * h)
    np.testing.assert_allclose(f0[0], fd, rtol=1e-6, atol=1e-8)


@needs_model
def test_energy_invariant_and_forces_equivariant(mol_model, mol_frames, graph_mode):
    e0, f0, _ = evaluate(mol_model, mol_frames)
    rot = rand_rotation(7)
    for q in (rot, -rot, np.diag([1.0, 1.0, -1.0])):          # rotation, improper rotation, mirror
        moved = [AtomicData(pos=f.pos @ q.T + np.array([0.3, -1.2, 2.0]), atomic_numbers=f.atomic_numbers)
                 for f in mol_frames]
        e1, f1, _ = evaluate(mol_model, build_neighbors(moved, 3.0))
        np.testing.assert_allclose(e1, e0, rtol=1e-10, atol=1e-10)
        for a, b in zip(f1, f0):
            np.testing.assert_allclose(a, b @ q.T, rtol=1e-9, atol=1e-10)
    # permutation of the atoms of each structure
    perm = np.random.default_rng(0).permutation(mol_frames[0].num_atoms)
    permuted = [AtomicData(pos=f.pos[perm], atomic_numbers=f.atomic_numbers[perm]) for f in mol_frames]
    e2, f2, _ = evaluate(mol_model, build_neighbors(permuted, 3.0))
    np.testing.assert_allclose(e2, e0, rtol=1e-10, atol=1e-10)
    for a, b in zip(f2, f0):
        np.testing.assert_allclose(a, b[perm], rtol=1e-9, atol=1e-10)


@needs_model
def test_stress_is_strain_derivative(mol_model, graph_mode):
    # a periodic H/C/O crystal-like cell (small: atoms see their own images)
    rng = np.random.default_rng(5)
    cell = np.diag([3.4, 3.6, 3.8]) + rng.normal(size=(3, 3)) * 0.1
    frame = build_neighbors([AtomicData(pos=rng.uniform(0, 3.4, size=(5, 3)), atomic_numbers=[1, 6, 8, 6, 1],
                                        cell=cell, pbc=True)], 3.0)[0]
    _, _, s = evaluate(mol_model, [frame])
    s = s[0]
    vol = abs(np.linalg.det(cell))
    h = 1e-6
    fd = np.zeros((3, 3))
    for a in range(3):
        for c in range(3):
            eps = np.zeros((3, 3))
            eps[a, c] = h
            ep = evaluate(mol_model, [with_edges_of(frame, frame.pos @ (np.eye(3) + eps), cell @ (np.eye(3) + eps))])
            em = evaluate(mol_model, [with_edges_of(frame, frame.pos @ (np.eye(3) - eps), cell @ (np.eye(3) - eps))])
            fd[a, c] = (ep[0][0] - em[0][0]) / (2 * h) / vol
    assert np.abs(s).max() > 1e-4
    np.testing.assert_allclose(s, fd, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(s, s.T, atol=1e-10)     # rotation invariance makes it symmetric


class _ScalarLoss(nn.Cell):
    """The scalar loss of a LossNet (drops the error sums)."""

    def __init__(self, loss_net):
        super().__init__()
        self.loss_net = loss_net

    def construct(self, *args):
        return self.loss_net(*args)[0]


@pytest.fixture(scope="module")
def loss_and_grad(mol_model):
    """Loss and weight gradients of a LossNet on a copy of the molecule model, one compiled graph per shape.

    The copy (same weights, its own Cells) sidesteps a MindSpore 2.10 graph-cache failure: compiling the
    second-order graph on Cells already compiled in a first-order graph with two gradient inputs (the stress
    wrapper) fails with "The parameters number of the function is 4, but ... 3" inside the tensor product.
    """
    ms.set_seed(1)
    twin = small_net()
    for (_, a), (_, b) in zip(mol_model.model.parameters_and_names(), twin.parameters_and_names()):
        b.set_data(a.data.copy())
    loss_net = LossNet(EnergyForceModel(twin, compute_stress=True), 1.0, 1.0, dtype=F64)
    value_and_grad = ms.value_and_grad(_ScalarLoss(loss_net), grad_position=None, weights=loss_net.trainable_params())

    def run(args):
        loss, grads = value_and_grad(*args)
        return float(loss.asnumpy()), [g.asnumpy() for g in grads]
    run.original = {id(b): a for (_, a), (_, b) in zip(mol_model.model.parameters_and_names(),
                                                       twin.parameters_and_names())}
    return loss_net, run


def numpy_loss(model, frames):
    """The per-atom energy + force MSE of LossNet, computed in numpy from the model's outputs."""
    e, f, _ = evaluate(model, frames)
    de = np.array([(e[g] - fr.energy) / fr.num_atoms for g, fr in enumerate(frames)])
    df = np.concatenate([(f[g] - fr.forces).ravel() for g, fr in enumerate(frames)])
    return (de ** 2).mean() + (df ** 2).mean()


@pytest.mark.slow
@needs_model
def test_padding_gives_same_loss_and_gradients(loss_and_grad, mol_model, mol_frames, graph_mode):
    _, run = loss_and_grad
    tight = collate(mol_frames, MAPPER, dtype=np.float64, n_pad=sum(f.num_atoms for f in mol_frames) + 1,
                    e_pad=sum(f.num_edges for f in mol_frames))
    l1, g1 = run(batch_inputs(tight, F64))
    l2, g2 = run(batch_inputs(collate(mol_frames, MAPPER, dtype=np.float64, **PAD), F64))
    assert l1 > 0
    np.testing.assert_allclose(l2, l1, rtol=1e-12)
    np.testing.assert_allclose(l1, numpy_loss(mol_model, mol_frames), rtol=1e-12)
    for a, b in zip(g1, g2):
        assert np.all(np.isfinite(b))
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


@needs_model
def test_second_order_grad_matches_finite_differences(loss_and_grad, mol_model, mol_frames, graph_mode):
    loss_net, run = loss_and_grad
    _, grads = run(batch_inputs(collate(mol_frames, MAPPER, dtype=np.float64, **PAD), F64))
    rng = np.random.default_rng(0)
    h = 1e-6
    checked = 0
    for twin_p, g in zip(loss_net.trainable_params(), grads):
        if not any(k in twin_p.name for k in ("bessel", "radial_mlp", "linear_1", "self_connection", "output")):
            continue
        p = run.original[id(twin_p)]          # perturb the first-order model's copy of this weight
        flat = p.asnumpy().ravel().copy()
        k = int(rng.integers(flat.size))
        vals = []
        for sign in (1, -1):
            w = flat.copy()
            w[k] += sign * h
            p.set_data(ms.Tensor(w.reshape(p.shape), F64))
            vals.append(numpy_loss(mol_model, mol_frames))
        p.set_data(ms.Tensor(flat.reshape(p.shape), F64))
        fd = (vals[0] - vals[1]) / (2 * h)
        np.testing.assert_allclose(g.ravel()[k], fd, rtol=1e-5, atol=1e-8, err_msg=twin_p.name)
        checked += 1
    assert checked >= 4


# ------------------------------------------------------------------------------------------------ bad input

@needs_model
def test_bad_input_model_arguments():
    with pytest.raises(ValueError, match="num_types"):
        NequIP(0)
    with pytest.raises(ValueError, match="per_species_scale"):
        NequIP(2, num_layers=1, num_features=2, per_species_scale=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="r_max"):
        RadialEmbedding(-1.0)
    with pytest.raises(ValueError, match="no tensor-product path"):
        InteractionBlock("4x0e", "4x1e", "0e + 1o", num_types=1)


def test_bad_input_unknown_species_is_named():
    frames = build_neighbors([AtomicData(pos=[[0, 0, 0], [0, 0, 1.0]], atomic_numbers=[1, 9])], 3.0)
    with pytest.raises(ValueError, match="F"):
        collate(frames, MAPPER)


def test_model_inputs_order_matches_batch():
    b = collate(build_neighbors(molecules(1), 3.0), MAPPER)
    arrays = b.arrays()
    assert all(k in arrays for k in MODEL_INPUTS + LABEL_INPUTS)
