"""nn.models: e3nn 0.6.0's networks -- parameter names and order, outputs and position gradients against e3nn
(float64, both modes), equivariance, finite differences, e3nn's own test() functions, bad input."""
import importlib
import json

import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3.util.test import assert_equivariant

F64 = ms.float64
CASES = ["2101_a", "2101_b", "2102", "v2103_conv", "v2106_conv", "v2103_in_out", "v2103_mp", "v2106_mp",
         "v2103_simple", "v2106_simple", "v2103_attr", "v2106_attr", "v2103_voxel", "v2104_voxel", "v2103_lowpass",
         "v2104_lowpass_t"]
# graph mode on a subset (compiling every network takes minutes): the 2101/2102 networks, both convolution
# generations, the v2103 stack, the in-out convolution and the v2104 voxel pieces; PyNative on every case
GRAPH_CASES = ["2101_b", "2102", "v2103_conv", "v2106_conv", "v2103_in_out", "v2103_mp", "v2104_voxel",
               "v2104_lowpass_t"]
INDEX_INPUTS = ("batch", "edge_index", "edge_src", "edge_dst")


def build(f, dtype=F64):
    config = json.loads(str(f["config"]))
    module = importlib.import_module(f"mindchemistry_e3.nn.models.{config['module']}")
    return getattr(module, config["cls"])(*config["args"], **config["kwargs"], dtype=dtype), config


def load_parameters(net, f, dtype=F64):
    for name, param in net.parameters_and_names():
        param.set_data(ms.Tensor(f[f"param:{name}"], dtype))


def inputs(f, config, dtype=F64):
    """The call's argument: e3nn's data dict, or the tuple of Tensors (in the fixture's order)."""
    values = {}
    for key in f:
        if key.startswith("in:"):
            name, value = key[3:], f[key]
            values[name] = ms.Tensor(value, ms.int64) if name in INDEX_INPUTS else ms.Tensor(value, dtype)
    if config["call"] == "data":
        return values
    return tuple(values.values())


def call(net, args):
    return net(args) if isinstance(args, dict) else net(*args)


class OutputAndPositionGrad(nn.Cell):
    """``net(pos, *rest)`` and d sum(net(pos, *rest) * cot) / d pos, in one graph."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ops.GradOperation()

    def objective(self, pos, rest, cot):
        return (self.net(pos, *rest) * cot).sum()

    def construct(self, pos, rest, cot):
        return self.net(pos, *rest), self.grad(self.objective)(pos, rest, cot)


def output_and_position_grad(net, data, cot):
    args = net.graph_inputs(data)
    return OutputAndPositionGrad(net)(args[0], tuple(args[1:]), cot)


@pytest.mark.parametrize("case", CASES)
def test_parameter_names_match_e3nn(e3nn_fixture, case):
    f = e3nn_fixture(f"models_{case}")
    net, _ = build(f)
    names = [name for name, _ in net.parameters_and_names()]
    assert names == list(f["param_names"])
    assert [p.shape for _, p in net.parameters_and_names()] == [f[f"param:{n}"].shape for n in names]


@pytest.mark.parametrize("case", CASES)
def test_matches_e3nn(mode, e3nn_fixture, case):
    if mode == "graph" and case not in GRAPH_CASES:
        pytest.skip("compiled on a subset of the networks (see GRAPH_CASES)")
    f = e3nn_fixture(f"models_{case}")
    net, config = build(f)
    load_parameters(net, f)
    args = inputs(f, config)
    if "grad_pos" in f:
        out, grad = output_and_position_grad(net, args, ms.Tensor(f["cot"], F64))
        np.testing.assert_allclose(grad.asnumpy(), f["grad_pos"], rtol=1e-9,
                                   atol=1e-11 * np.abs(f["grad_pos"]).max())
    else:
        out = call(net, args)
    np.testing.assert_allclose(out.asnumpy(), f["out"], rtol=1e-10, atol=1e-12 * np.abs(f["out"]).max())


@pytest.mark.parametrize("case", ["2101_a", "v2106_conv", "v2104_voxel"])
def test_matches_e3nn_float32(e3nn_fixture, case):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    f = e3nn_fixture(f"models_{case}")
    net, config = build(f, ms.float32)
    load_parameters(net, f, ms.float32)
    out = call(net, inputs(f, config, ms.float32))
    assert out.dtype == ms.float32
    np.testing.assert_allclose(out.asnumpy(), f["out"], rtol=1e-4, atol=1e-5 * np.abs(f["out"]).max())


@pytest.mark.parametrize("case", ["2102", "v2103_simple"])
def test_equivariance_networks(e3nn_fixture, case):
    """Rotating / reflecting / translating the points and transforming the features commutes with the network."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    f = e3nn_fixture(f"models_{case}")
    net, config = build(f)
    load_parameters(net, f)
    data = inputs(f, config)
    keys = [k for k in data if k not in INDEX_INPUTS]
    irreps = {"pos": "cartesian_points", "x": net.irreps_in if hasattr(net, "irreps_in") else net.irreps_node_input,
              "z": getattr(net, "irreps_node_attr", None), "node_input": getattr(net, "irreps_node_input", None),
              "node_attr": getattr(net, "irreps_node_attr", None), "edge_attr": getattr(net, "irreps_edge_attr", None)}
    irreps_out = getattr(net, "irreps_out", None) or net.irreps_node_output

    def func(*values):
        return net({**data, **dict(zip(keys, values))})

    assert_equivariant(func, [data[k] for k in keys], irreps_in=[irreps[k] for k in keys], irreps_out=[irreps_out])


@pytest.mark.parametrize("case", ["v2103_conv", "v2106_mp", "v2103_in_out"])
def test_equivariance_convolutions(e3nn_fixture, case):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    f = e3nn_fixture(f"models_{case}")
    net, config = build(f)
    load_parameters(net, f)
    args = inputs(f, config)
    if case == "v2103_in_out":
        irreps_in = [net.irreps_node_input, net.irreps_node_attr_input, net.irreps_node_attr_output, None, None,
                     net.irreps_edge_attr, None]
    else:
        first = net.layers[0].first if hasattr(net, "layers") else net
        irreps_in = [first.irreps_node_input, net.irreps_node_attr, None, None, net.irreps_edge_attr, None]
    assert_equivariant(net, list(args), irreps_in=irreps_in, irreps_out=[net.irreps_node_output])


def test_voxel_equivariance_under_grid_rotations(e3nn_fixture):
    """A 90-degree rotation of the grid (a lattice symmetry) commutes with the voxel convolution."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    f = e3nn_fixture("models_v2103_voxel")
    net, config = build(f)
    load_parameters(net, f)
    x = np.random.default_rng(0).standard_normal((1, net.irreps_in.dim, 4, 4, 4))
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # (x, y) -> (-y, x) about z
    d_in = net.irreps_in.D_from_matrix(ms.Tensor(rot, F64)).asnumpy()
    d_out = net.irreps_out.D_from_matrix(ms.Tensor(rot, F64)).asnumpy()

    def rotate(v, d):  # new[:, :, i, j] = D old[:, :, j, n-1-i] for the rotation above
        v = np.einsum("ij,bjxyz->bixyz", d, v)
        return np.rot90(v, k=1, axes=(2, 3)).copy()

    out = net(ms.Tensor(x, F64)).asnumpy()
    out_rot = net(ms.Tensor(rotate(x, d_in), F64)).asnumpy()
    np.testing.assert_allclose(out_rot, rotate(out, d_out), atol=1e-10)


def test_first_order_grad_positions(e3nn_fixture):
    """Forces of gate_points_2101 against central finite differences of the output (PyNative, float64)."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    f = e3nn_fixture("models_2101_b")
    net, config = build(f)
    load_parameters(net, f)
    data = inputs(f, config)
    cot = ms.Tensor(f["cot"], F64)
    grad = output_and_position_grad(net, data, cot)[1].asnumpy()
    args = net.graph_inputs(data)  # the graph is kept fixed: no edge crosses the cutoff within eps
    pos0, eps = args[0].asnumpy(), 1e-6
    coordinates = range(0, pos0.size, 2)  # every other coordinate: each atom, each axis
    fd = np.zeros(len(coordinates))
    for k, i in enumerate(coordinates):
        for s in (1.0, -1.0):
            pos = pos0.copy()
            pos.flat[i] += s * eps
            fd[k] += s * float((net(ms.Tensor(pos, F64), *args[1:]) * cot).sum().asnumpy()) / (2 * eps)
    np.testing.assert_allclose(grad.ravel()[list(coordinates)], fd, rtol=1e-6, atol=1e-8)


class ForceLoss(nn.Cell):
    """|d E / d pos|^2 with E = sum of the network's outputs (second order with respect to the weights)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ops.GradOperation()

    def energy(self, pos, x, z, edge_src, edge_dst, batch):
        return self.net(pos, x, z, edge_src, edge_dst, batch, 1).sum()

    def construct(self, pos, x, z, edge_src, edge_dst, batch):
        force = self.grad(self.energy)(pos, x, z, edge_src, edge_dst, batch)
        return (force * force).sum()


@pytest.mark.slow
def test_second_order_grad(graph_mode):
    """A force loss of a small gate_points_2101 network differentiated with respect to its weights: finite
    differences (graph mode; PyNative refuses second order)."""
    from mindchemistry_e3.nn.models.gate_points_2101 import Network

    net = Network(None, "2x0e + 1x1o", "0e", None, "0e + 1o", layers=1, max_radius=2.5, number_of_basis=2,
                  radial_layers=1, radial_neurons=4, num_neighbors=2.0, num_nodes=4.0, dtype=F64)
    rng = np.random.default_rng(0)
    for param in net.trainable_params():
        param.set_data(ms.Tensor(rng.standard_normal(param.shape), F64))
    args = net.graph_inputs({"pos": ms.Tensor(rng.standard_normal((4, 3)), F64)})[:6]
    loss = ForceLoss(net)
    weights = net.trainable_params()
    grads = ms.grad(loss, grad_position=None, weights=weights)(*args)
    for param, grad in zip(weights, grads):
        w0, eps = param.asnumpy().copy(), 1e-6
        for i in range(min(w0.size, 3)):
            value = []
            for s in (1.0, -1.0):
                w = w0.copy()
                w.flat[i] += s * eps
                param.set_data(ms.Tensor(w, F64))
                value.append(float(loss(*args).asnumpy()))
            param.set_data(ms.Tensor(w0, F64))
            fd = (value[0] - value[1]) / (2 * eps)
            np.testing.assert_allclose(grad.asnumpy().flat[i], fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name, function", [
    ("v2103.gate_points_message_passing", "test"), ("v2106.gate_points_message_passing", "test"),
    ("v2103.gate_points_networks", "test_simple_network"),
    ("v2103.gate_points_networks", "test_network_for_a_graph_with_attributes"),
    ("v2106.gate_points_networks", "test_simple_network"),
    ("v2106.gate_points_networks", "test_network_for_a_graph_with_attributes"),
    ("v2103.conv_points_in_out", "test"), ("v2103.voxel_convolution", "test"), ("v2104.voxel_convolution", "test")])
def test_e3nn_test_functions(name, function):
    """e3nn's own test() functions of the model files, ported (PyNative; assert_auto_jitable compiles a layer)."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    getattr(importlib.import_module(f"mindchemistry_e3.nn.models.{name}"), function)()


def test_bad_input():
    from mindchemistry_e3.nn.models import gate_points_2101
    from mindchemistry_e3.nn.models.v2106 import gate_points_message_passing  # a package that imports no submodule
    from mindchemistry_e3.nn.models._voxel import LowPassFilter
    from mindchemistry_e3.nn.models.v2103.voxel_convolution import Convolution as VoxelConvolution
    from mindchemistry_e3.nn.models.v2106.points_convolution import Convolution

    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = gate_points_2101.Network("0e", "2x0e + 1o", "0e", None, "0e + 1o", 1, 2.0, 2, 1, 4, 2.0, 2.0, dtype=F64)
    with pytest.raises(ValueError, match="'x'"):
        net({"pos": ms.Tensor(np.zeros((2, 3)), F64)})
    with pytest.raises(ValueError, match="produces nothing"):
        Convolution("0e", "0e", "1o", "2e", [2], 1.0)
    with pytest.raises(ValueError, match="gates"):
        gate_points_message_passing.MessagePassing(["2e", "2e", "2e"], "0e", "0e", [2], 1.0)
    with pytest.raises(ValueError, match="stride"):
        LowPassFilter(1.0, stride=2)
    with pytest.raises(ValueError, match="dilation"):
        VoxelConvolution("0e", "0e", "0e", 3, dilation=2)
    conv = VoxelConvolution("0e", "0e", "0e", 3, dtype=F64)
    with pytest.raises(ValueError, match="shape"):
        conv(ms.Tensor(np.zeros((1, 2, 4, 4, 4)), F64))
