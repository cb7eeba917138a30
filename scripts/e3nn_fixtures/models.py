"""e3nn 0.6.0 reference values for the networks of ``e3nn.nn.models`` (gate_points_2101/2102, v2103, v2104, v2106).

Writes ``tests/data/models_<case>.npz``, one per entry of ``CASES``: the JSON ``config`` (module, class, constructor
arguments, call form), ``param_names`` (e3nn's ``named_parameters`` order) with every parameter as
``param:<name>`` (all redrawn from N(0, 1) so that no path is switched off, e.g. v2106's zero-initialised
``alpha``), ``buffer_names`` (the other ``state_dict`` entries), the inputs as ``in:<name>``, the output ``out``, a
random cotangent ``cot`` and, for networks that take positions, ``grad_pos`` = d sum(out * cot) / d pos.
For ``2101_a`` the weights are also exported with ``scripts/e3nn_state_dict_to_npz.py`` (from the live module:
``models_2101_a_state_dict.npz``; from a saved ``state_dict`` file: ``models_2101_a_state_dict_plain.npz``).

e3nn's v2103 files import ``torch_scatter``, ``torch_cluster`` and ``torch_geometric``; small stand-ins with the
semantics e3nn relies on are installed in ``sys.modules`` first (sum scatter along dim 0; radius graphs sorted by
centre, then neighbour).
"""
import json
import os
import sys
import tempfile
import types

import numpy as np
import torch


def _scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum"):
    assert dim == 0 and out is None and reduce == "sum"
    if dim_size is None:
        dim_size = int(index.max()) + 1
    return src.new_zeros((dim_size,) + tuple(src.shape[1:])).index_add_(0, index, src)


def _pairs(x, y, r, batch_x=None, batch_y=None, skip_self=False):
    """(row into y, col into x) with |x_col - y_row| < r, same batch, sorted by (row, col)."""
    d = torch.cdist(y, x)
    ok = d < r
    if batch_x is not None:
        ok &= batch_y[:, None] == batch_x[None, :]
    if skip_self:
        ok &= ~torch.eye(len(x), dtype=torch.bool)
    row, col = ok.nonzero().T
    return row, col


def _radius_graph(x, r, batch=None, loop=False, max_num_neighbors=32, flow="source_to_target", num_workers=1):
    assert not loop and flow == "source_to_target" and max_num_neighbors >= len(x) - 1
    centre, neighbour = _pairs(x, x, r, batch, batch, skip_self=True)
    return torch.stack([neighbour, centre])


def _radius(x, y, r, batch_x=None, batch_y=None, max_num_neighbors=32, num_workers=1):
    row, col = _pairs(x, y, r, batch_x, batch_y)
    return torch.stack([row, col])


def _install_stand_ins():
    scatter_module = types.ModuleType("torch_scatter")
    scatter_module.scatter = _scatter
    cluster_module = types.ModuleType("torch_cluster")
    cluster_module.radius_graph = _radius_graph
    cluster_module.radius = _radius
    geometric = types.ModuleType("torch_geometric")
    geometric_data = types.ModuleType("torch_geometric.data")
    geometric_data.Data = dict
    geometric.data = geometric_data
    sys.modules.update({"torch_scatter": scatter_module, "torch_cluster": cluster_module,
                        "torch_geometric": geometric, "torch_geometric.data": geometric_data})


POS6 = dict(shape=[6, 3], scale=1.2)
CASES = {
    "2101_a": dict(module="gate_points_2101", cls="Network", call="data",
                   args=["0e + 1o", "4x0e + 2x0o + 2x1o + 2x1e", "0e + 1o", "2x0e", "0e + 1o"],
                   kwargs=dict(layers=2, max_radius=2.5, number_of_basis=3, radial_layers=1, radial_neurons=8,
                               num_neighbors=2.0, num_nodes=3.0),
                   data=dict(pos=POS6, x="irreps_in", z="irreps_node_attr", batch=[0, 0, 0, 1, 1, 1])),
    "2101_b": dict(module="gate_points_2101", cls="Network", call="data",
                   args=[None, "2x0e + 2x0o + 2x1o + 1x2e", "1o", None, "0e + 1o + 2e"],
                   kwargs=dict(layers=1, max_radius=2.5, number_of_basis=4, radial_layers=2, radial_neurons=6,
                               num_neighbors=3.0, num_nodes=6.0, reduce_output=False),
                   data=dict(pos=POS6)),
    "2102": dict(module="gate_points_2102", cls="Network", call="data",
                 args=["2x0e", "4x0e + 2x1o + 2x1e", "0e + 1e", "2x0e + 1o", "0e + 1o"],
                 kwargs=dict(layers=1, max_radius=2.5, number_of_basis=3, radial_layers=1, radial_neurons=8,
                             num_neighbors=2.0, num_nodes=3.0),
                 data=dict(pos=POS6, x="irreps_in", z="irreps_node_attr", batch=[0, 0, 1, 1, 1, 1])),
    "v2103_conv": dict(module="v2103.points_convolution", cls="Convolution", call="conv",
                       args=["2x0e + 1o", "0e + 1o", "0e + 1o", "0e + 2x1o + 1e", [3, 8], 2.0], kwargs={}),
    "v2106_conv": dict(module="v2106.points_convolution", cls="Convolution", call="conv",
                       args=["2x0e + 1o", "0e + 1o", "0e + 1o", "0e + 2x1o + 1e", [3, 8], 2.0], kwargs={}),
    "v2103_in_out": dict(module="v2103.conv_points_in_out", cls="Convolution", call="in_out",
                         args=["0e + 1e", "0e + 1e", "2x0e", "3x0e", "0e + 1e", 4, 1, 8, 3.0], kwargs={}),
    "v2103_mp": dict(module="v2103.gate_points_message_passing", cls="MessagePassing", call="mp",
                     args=["0e", "0e + 1e", "1e", "0e + 1e", "1e"], kwargs=dict(layers=2, fc_neurons=[2, 8],
                                                                                   num_neighbors=3.0)),
    "v2106_mp": dict(module="v2106.gate_points_message_passing", cls="MessagePassing", call="mp",
                     args=[["0e", "0e + 1e", "0e + 1e", "1e"], "0e + 1e", "0e + 1e", [2, 8], 3.0], kwargs={}),
    "v2103_simple": dict(module="v2103.gate_points_networks", cls="SimpleNetwork", call="data",
                         args=["3x0e + 2x1o", "4x0e + 1x1o"],
                         kwargs=dict(max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=2, layers=1, lmax=1),
                         data=dict(pos=dict(shape=[5, 3], scale=1.0), x="irreps_in", batch=[0, 0, 0, 1, 1])),
    "v2106_simple": dict(module="v2106.gate_points_networks", cls="SimpleNetwork", call="data",
                         args=["3x0e + 2x1o", "4x0e + 1x1o"],
                         kwargs=dict(max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=2, layers=1, lmax=1),
                         data=dict(pos=dict(shape=[5, 3], scale=1.0), x="irreps_in")),
    "v2103_attr": dict(module="v2103.gate_points_networks", cls="NetworkForAGraphWithAttributes", call="data",
                       args=["3x0e + 2x1o", "2x0e + 1x1o", "1e", "3x0o + 1e"],
                       kwargs=dict(max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=2, layers=1, lmax=1),
                       data=dict(pos=dict(shape=[4, 3], scale=1.0), edge_index=[[0, 1, 2, 3, 1], [1, 2, 0, 0, 3]],
                                 node_input="irreps_node_input", node_attr="irreps_node_attr",
                                 edge_attr="irreps_edge_attr")),
    "v2106_attr": dict(module="v2106.gate_points_networks", cls="NetworkForAGraphWithAttributes", call="data",
                       args=["3x0e + 2x1o", "2x0e + 1x1o", "1e", "3x0o + 1e"],
                       kwargs=dict(max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=2, layers=1, lmax=1),
                       data=dict(pos=dict(shape=[4, 3], scale=0.8), x="irreps_node_input",
                                 node_attr="irreps_node_attr", edge_attr="irreps_edge_attr:radius")),
    "v2103_voxel": dict(module="v2103.voxel_convolution", cls="Convolution", call="voxel",
                        args=["0e + 1e", "0e + 1o + 2e", "0e + 1e + 2e", 3], kwargs=dict(steps=[1.0, 1.0, 1.0]),
                        grid=[2, 4, 5, 4]),
    "v2104_voxel": dict(module="v2104.voxel_convolution", cls="Convolution", call="voxel",
                        args=["0e + 1e", "0e + 1o + 2e", "0e + 1e + 2e"],
                        kwargs=dict(diameter=3.2, num_radial_basis=3, steps=[1.0, 1.0, 1.5]), grid=[2, 4, 5, 4]),
    "v2103_lowpass": dict(module="v2103.voxel_convolution", cls="LowPassFilter", call="image", args=[2.0],
                          kwargs=dict(stride=2), grid=[2, 3, 7, 6, 5]),
    "v2104_lowpass_t": dict(module="v2104.voxel_convolution", cls="LowPassFilter", call="image", args=[2.0],
                            kwargs=dict(stride=2, transposed=True, steps=[1.0, 1.0, 2.0]), grid=[2, 3, 4, 5, 3]),
}


def _np(x):
    return x.detach().to(torch.float64).numpy()


def _randn(irreps, n, gen):
    """``n`` standard-normal rows of an irreps (e3nn's component normalisation), from ``gen``."""
    from e3nn import o3

    return torch.randn(n, o3.Irreps(irreps).dim, generator=gen)


def _graph(num_nodes, num_edges, gen):
    src = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    dst = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    return src, dst


def _inputs(case, net, gen):
    """The call's arguments (a dict for data calls, a tuple otherwise) and a dict of what to save."""
    kind = case["call"]
    if kind == "data":
        data, saved = {}, {}
        spec = case["data"]
        n = spec["pos"]["shape"][0]
        data["pos"] = spec["pos"]["scale"] * torch.randn(spec["pos"]["shape"], generator=gen)
        for key, value in spec.items():
            if key == "pos":
                continue
            if key == "batch":
                data[key] = torch.tensor(value)
            elif key == "edge_index":
                data[key] = torch.tensor(value)
            elif key == "edge_attr":
                irreps, _, how = value.partition(":")
                if how == "radius":  # v2106 builds the radius graph itself: one row per edge of it
                    from e3nn.nn.models.v2106.gate_points_networks import radius_graph
                    num_edges = radius_graph(data["pos"], net.max_radius, torch.zeros(n, dtype=torch.long)).shape[1]
                else:
                    num_edges = len(spec["edge_index"][0])
                data[key] = _randn(getattr(net, irreps), num_edges, gen)
            else:
                data[key] = _randn(getattr(net, value), n, gen)
        data["pos"].requires_grad_(True)
        saved.update({f"in:{k}": _np(v) for k, v in data.items()})
        return data, saved
    if kind in ("conv", "mp"):
        first = net.layers[0].first if kind == "mp" else net
        n, e = 5, 9
        src, dst = _graph(n, e, gen)
        args = (_randn(first.irreps_node_input, n, gen), _randn(net.irreps_node_attr, n, gen), src, dst,
                _randn(net.irreps_edge_attr, e, gen), torch.randn(e, first.fc.hs[0], generator=gen))
        names = ("node_input", "node_attr", "edge_src", "edge_dst", "edge_attr", "edge_scalars")
        return args, {f"in:{k}": _np(v) for k, v in zip(names, args)}
    if kind == "in_out":
        n_in, n_out, e = 5, 3, 8
        src = torch.randint(0, n_in, (e,), generator=gen)
        dst = torch.randint(0, n_out, (e,), generator=gen)
        args = (_randn(net.irreps_node_input, n_in, gen),
                _randn(net.irreps_node_attr_input, n_in, gen),
                _randn(net.irreps_node_attr_output, n_out, gen), src, dst,
                _randn(net.irreps_edge_attr, e, gen), torch.randn(e, net.fc.hs[0], generator=gen))
        names = ("node_input", "node_attr_input", "node_attr_output", "edge_src", "edge_dst", "edge_attr",
                 "edge_scalar_attr")
        return args, {f"in:{k}": _np(v) for k, v in zip(names, args)}
    if kind == "voxel":
        b, x, y, z = case["grid"]
        args = (torch.randn(b, net.irreps_in.dim, x, y, z, generator=gen),)
        return args, {"in:x": _np(args[0])}
    args = (torch.randn(case["grid"], generator=gen),)
    return args, {"in:image": _np(args[0])}


def _build(case):
    import importlib

    module = importlib.import_module(f"e3nn.nn.models.{case['module']}")
    return getattr(module, case["cls"])(*case["args"], **case["kwargs"])


def make(out_dir):
    _install_stand_ins()
    for k, (name, case) in enumerate(CASES.items()):
        torch.manual_seed(k)
        gen = torch.Generator().manual_seed(100 + k)
        net = _build(case)
        params = dict(net.named_parameters())
        with torch.no_grad():
            for p in params.values():
                p.copy_(torch.randn(p.shape, generator=gen))
        args, rec = _inputs(case, net, gen)
        out = net(args) if isinstance(args, dict) else net(*args)
        cot = torch.randn(out.shape, generator=gen)
        rec.update(out=_np(out), cot=_np(cot), config=json.dumps(case),
                   param_names=np.array(list(params), dtype=str),
                   buffer_names=np.array([b for b in net.state_dict() if b not in params], dtype=str))
        rec.update({f"param:{n}": _np(p) for n, p in params.items()})
        if isinstance(args, dict):
            rec["grad_pos"] = _np(torch.autograd.grad((out * cot).sum(), args["pos"])[0])
        np.savez(os.path.join(out_dir, f"models_{name}.npz"), **rec)
        if name == "2101_a":  # the weights as a user would export them, for load_e3nn_state_dict
            import e3nn_state_dict_to_npz

            e3nn_state_dict_to_npz.export(net, os.path.join(out_dir, "models_2101_a_state_dict.npz"))
            with tempfile.TemporaryDirectory() as tmp:  # a state_dict .pt through the script's command line
                torch.save(net.state_dict(), os.path.join(tmp, "state_dict.pt"))
                e3nn_state_dict_to_npz.main([os.path.join(tmp, "state_dict.pt"),
                                             os.path.join(out_dir, "models_2101_a_state_dict_plain.npz")])
