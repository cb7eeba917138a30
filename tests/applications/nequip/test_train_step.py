"""The one-Cell train step's moving average (kept flat, updated after the optimizer), the radial MLPs of all
layers evaluated together, each block's Lin_2 + self-connection as one o3.StackedSum and the last layer restricted
to the scalars the readout reads (same energies, forces and second-order weight gradients as evaluated apart)."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn, ops

from applications.nequip.data import TypeMapper, build_neighbors, collate
from applications.nequip.model import MODEL_INPUTS, EnergyForceModel, LossNet, TrainStep
from applications.nequip.model.interaction import radial_mlps_stackable
from applications.nequip.train import batch_inputs
from applications.nequip.training.state import checkpoint_arrays, restore_arrays
from mindchemistry_e3 import nn as e3nn
from mindchemistry_e3.o3 import Irrep
from tests.applications.nequip.conftest import molecules, needs_model, small_net

F64 = ms.float64
MAPPER = TypeMapper([1, 6, 8])


@pytest.fixture(scope="module")
def batch():
    frames = build_neighbors(molecules(2, seed=7), 3.0)
    return collate(frames, MAPPER, dtype=np.float64, n_pad=16, e_pad=96, num_graphs=3)


def _step(net, lr=1e-2):
    loss = LossNet(EnergyForceModel(net), 1.0, 1.0, dtype=F64)
    return TrainStep(loss, nn.AdamWeightDecay(loss.trainable_params(), lr, weight_decay=0.0), ema=True)  # float64


@needs_model
def test_ema_follows_the_weights_after_each_update(graph_mode, batch):
    ms.set_seed(0)
    net = small_net()
    step = _step(net)
    ema = [p.asnumpy().copy() for p in step.weights]
    assert all(np.array_equal(a, e) for a, e in zip(ema, step.ema_arrays()))  # starts at the weights
    inputs = batch_inputs(batch, F64)
    for decay in (0.5, 0.9):
        step(*inputs, ms.Tensor(decay, F64))
        new = [p.asnumpy() for p in step.weights]
        assert any(not np.allclose(a, b) for a, b in zip(ema, new))  # the weights moved
        ema = [decay * e + (1 - decay) * w for e, w in zip(ema, new)]
        for expected, got, w in zip(ema, step.ema_arrays(), step.weights):
            assert got.shape == tuple(w.shape)
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15, err_msg=w.name)


@needs_model
def test_ema_goes_through_checkpoint_arrays_by_weight_name(graph_mode, batch):
    ms.set_seed(0)
    net = small_net()
    step = _step(net)
    step(*batch_inputs(batch, F64), ms.Tensor(0.5, F64))
    arrays = checkpoint_arrays(net, step)
    names = [n for n, _ in net.parameters_and_names()]
    assert {"ema/" + n for n, p in net.parameters_and_names() if p.requires_grad} == \
        {k for k in arrays if k.startswith("ema/")}
    assert not any(k.startswith("train/ema") for k in arrays)  # the flat vector (and its pending decay) not twice
    ms.set_seed(1)
    other = small_net()
    other_step = _step(other)
    restore_arrays(other, other_step, arrays, "test")
    by_name = dict(zip([n for n, p in net.parameters_and_names() if p.requires_grad], other_step.ema_arrays()))
    for n in names:
        if "ema/" + n in arrays:
            np.testing.assert_array_equal(by_name[n], arrays["ema/" + n])
    with pytest.raises(ValueError, match="ema/"):
        bad = dict(arrays)
        key = next(k for k in bad if k.startswith("ema/"))
        bad[key] = np.zeros((1,) + bad[key].shape)
        restore_arrays(other, other_step, bad, "test")


def test_radial_mlps_stackable_needs_matching_hidden_layers():
    a, b = (e3nn.FullyConnectedNet([8, 16, n], e3nn.silu) for n in (4, 6))
    assert radial_mlps_stackable([a, b])
    assert not radial_mlps_stackable([a])                                             # one layer: nothing to share
    assert not radial_mlps_stackable([a, e3nn.FullyConnectedNet([8, 12, 4], e3nn.silu)])   # other width
    assert not radial_mlps_stackable([a, e3nn.FullyConnectedNet([8, 16, 4], ops.tanh)])   # other activation
    assert not radial_mlps_stackable([e3nn.FullyConnectedNet([8, 4], None)] * 2)          # no hidden layer


@needs_model
@pytest.mark.parametrize("radial_layers", [1, 2])
def test_radial_mlps_together_equal_layer_by_layer(graph_mode, batch, radial_layers):
    """Energies, forces and the weight gradients of the force loss (second order) with the radial MLPs of all
    layers run together match the layer-by-layer network with the same weights."""
    ms.set_seed(0)
    together = small_net(num_layers=3, radial_mlp_layers=radial_layers)
    apart = small_net(num_layers=3, radial_mlp_layers=radial_layers)
    for p, q in zip(together.get_parameters(), apart.get_parameters()):
        q.set_data(p.data.copy())
    assert together._radial_together
    apart._radial_together = False
    _assert_same_training_numbers(together, apart, batch)


@needs_model
def test_linear_and_self_connection_summed_equal_apart(graph_mode, batch):
    """Energies, forces and the second-order weight gradients of the force loss with each block's Lin_2(h) +
    SC(x, z) as one StackedSum (reading the convolution's unmapped results, writing the gate's working layout) match
    the convolution, the two maps and the gate evaluated apart with the same weights."""
    ms.set_seed(0)
    summed = small_net(num_layers=2)
    apart = small_net(num_layers=2)
    for p, q in zip(summed.get_parameters(), apart.get_parameters()):
        q.set_data(p.data.copy())
    assert all(layer.conv.linear_sum is not None for layer in summed.layers)
    assert all((layer._read_tail if layer.restricted else layer.gated_tail) is not None for layer in summed.layers)
    assert summed.layers[-1].restricted and not summed.layers[0].restricted
    for layer in apart.layers:
        layer.conv.linear_sum = None
        layer.gated_tail = None
        if layer.restricted:
            layer._read_tail = None
    assert [p.name for p in summed.trainable_params()] == [p.name for p in apart.trainable_params()]
    _assert_same_training_numbers(summed, apart, batch, every_weight=True)


@needs_model
@pytest.mark.parametrize("overrides", [{"num_layers": 2}, {"num_layers": 3}, {"l_max": 2, "resnet": True},
                                       {"parity": False}], ids=["small", "three-layers", "l2-resnet", "se3"])
def test_scalar_last_layer_equals_the_full_one(graph_mode, batch, overrides):
    """The last layer restricted to the 0e features the readout reads and each layer before to what the next reads
    (their product paths into the kept gate inputs, those paths' radial columns, the components of Lin_1 and Lin_2 +
    SC they need) give the full network's energies, forces, loss and second-order weight gradients with the same
    Parameters -- exactly zero where the full network's unread outputs leave them zero -- with fewer product paths."""
    ms.set_seed(0)
    overrides = {"num_layers": 3, **overrides}
    scalar = small_net(**overrides)
    full = small_net(scalar_last_layer=False, **overrides)
    assert [(p.name, p.shape) for p in scalar.get_parameters()] == [(p.name, p.shape) for p in full.get_parameters()]
    for p, q in zip(scalar.get_parameters(), full.get_parameters()):
        q.set_data(p.data.copy())
    last = scalar.layers[-1]
    assert last.restricted and not any(layer.restricted for layer in full.layers)
    if overrides["num_layers"] == 3 and overrides.get("parity", True) and not overrides.get("resnet"):
        # the middle layer leaves out what the last does not read (1e, 0o)
        assert scalar.layers[1].restricted and scalar.layers[1].keeps_layout
    assert {ir for _, ir in last.irreps_out} == {Irrep("0e")} != {ir for _, ir in full.layers[-1].irreps_out}
    assert last.read_product.weight_numel < last.conv.tp.weight_numel
    assert last._read_in is not None and last._read_tail is not None
    grads = _assert_same_training_numbers(scalar, full, batch)
    # the unread outputs' weights: zero gradient in both (the last layer's Lin_2 has some)
    index = [p.name for p in scalar.trainable_params()].index(last.conv.linear_2.weight.name)
    assert np.any(grads[index] == 0) and np.any(grads[index] != 0)


@needs_model
def test_scalar_last_layer_without_its_stacked_maps(graph_mode, batch):
    """The restricted layers' fallback (Lin_1 and Lin_2 + SC evaluated whole, their read columns picked: the path
    of inputs too large for the stacked maps) equals the stacked path, in the last layer and in one before it."""
    ms.set_seed(0)
    stacked = small_net(num_layers=3)
    apart = small_net(num_layers=3)
    for p, q in zip(stacked.get_parameters(), apart.get_parameters()):
        q.set_data(p.data.copy())
    assert [layer.restricted for layer in apart.layers] == [False, True, True]
    for layer in apart.layers[1:]:
        layer._read_in = None
        layer._read_tail = None
    _assert_same_training_numbers(stacked, apart, batch)


def _assert_same_training_numbers(net, other, batch, every_weight=False):
    """Energies, forces, the loss and its weight gradients (second order: the force term) of two networks agree
    (float64), and some weight (``every_weight``: every weight) gets a nonzero gradient."""
    inputs = batch_inputs(batch, F64)
    results = []
    for model in (net, other):
        loss = LossNet(EnergyForceModel(model), 1.0, 1.0, dtype=F64)
        value_and_grad = ms.value_and_grad(loss, grad_position=None, weights=loss.trainable_params(), has_aux=True)
        (value, _), grads = value_and_grad(*inputs)
        energy, forces = EnergyForceModel(model)(*inputs[:len(MODEL_INPUTS)])
        results.append((value.asnumpy(), energy.asnumpy(), forces.asnumpy(), [g.asnumpy() for g in grads]))
    (l1, e1, f1, g1), (l2, e2, f2, g2) = results
    np.testing.assert_allclose(e1, e2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(f1, f2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(l1, l2, rtol=1e-12)
    assert len(g1) == len(g2) and (all if every_weight else any)(np.abs(g).max() > 0 for g in g1)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    return g1
