"""NequIP's interaction block on the core o3.TensorProductConv: equal to the block written with o3.TensorProduct +
gather + scatter (same parameters), and a model built by the previous code (the application's own fused
convolution, commit c095b56) keeps its parameter names, shapes and numbers."""
import os

import numpy as np
import mindspore as ms
from mindspore import nn

from applications.nequip.model import EnergyForceModel, InteractionBlock, NequIP
from mindchemistry_e3 import o3
from mindchemistry_e3.o3 import Irreps
from mindchemistry_e3.util.graph import gather_rows, segment_sum

F64 = ms.float64
DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "nequip_main_model.npz")


class _UnfusedBlock(nn.Cell):
    """The interaction block of ``blk`` (its parameters) with the product as TensorProduct + gather + scatter."""

    def __init__(self, blk):
        super().__init__()
        self.blk = blk
        self.tp = o3.TensorProduct(blk.irreps_in, blk.irreps_edge_attr, blk.irreps_mid,
                                   [(i.i_in1, i.i_in2, i.i_out, i.connection_mode, i.has_weight)
                                    for i in blk.tp.instructions], shared_weights=False, internal_weights=False,
                                   dtype=F64)
        self.scale = ms.Tensor([blk.avg_num_neighbors ** -0.5], F64)

    def construct(self, x, node_attr, edge_attr, edge_embedding, edge_src, edge_dst):
        blk = self.blk
        w = blk.radial_mlp(edge_embedding)
        h = self.tp(gather_rows(blk.linear_1(x), edge_src), edge_attr, w)
        h = blk.linear_2(segment_sum(h, edge_dst, x.shape[0]) * self.scale)
        return h + blk.self_connection(x, node_attr)


def test_interaction_block_equals_tensor_product_gather_scatter(mode):
    irreps_in, irreps_sh, irreps_hidden = "3x0e + 3x0o + 3x1o + 3x1e + 3x2e", "0e + 1o + 2e", "3x0e + 3x1o + 3x2e"
    ms.set_seed(3)
    blk = InteractionBlock(irreps_in, irreps_hidden, irreps_sh, num_types=2, num_basis=8, radial_mlp_layers=2,
                           radial_mlp_neurons=16, avg_num_neighbors=3.0, dtype=F64)
    assert blk.tp.fused and not blk.tp.trainable_params()
    rng = np.random.default_rng(1)
    n, e = 7, 20
    args = (ms.Tensor(rng.normal(size=(n, Irreps(irreps_in).dim)), F64),
            ms.Tensor(np.eye(2)[rng.integers(0, 2, n)], F64),
            ms.Tensor(rng.normal(size=(e, Irreps(irreps_sh).dim)), F64), ms.Tensor(rng.normal(size=(e, 8)), F64),
            ms.Tensor(rng.integers(0, n, e).astype(np.int32)), ms.Tensor(rng.integers(0, n, e).astype(np.int32)))
    ref = _UnfusedBlock(blk)(*args).asnumpy()
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(blk(*args).asnumpy(), ref, rtol=0, atol=1e-12)


def test_model_built_by_the_previous_code_keeps_names_shapes_and_numbers(graph_mode):
    """Parameters, inputs, energies and forces written by the application's previous convolution (float64)."""
    data = np.load(DATA)
    net = NequIP(3, r_max=3.0, l_max=2, num_layers=2, num_features=3, radial_mlp_neurons=8, avg_num_neighbors=4.0,
                 per_species_scale=[1.0, 0.5, 2.0], per_species_shift=[0.1, -0.2, 0.3], dtype=F64)
    model = EnergyForceModel(net)
    params = {p.name: p for p in net.get_parameters()}
    saved = {k[len("param:"):]: v for k, v in data.items() if k.startswith("param:")}
    assert list(params) == list(saved)
    for name, value in saved.items():
        assert params[name].shape == value.shape, name
        params[name].set_data(ms.Tensor(value, F64))
    names = ("pos", "atom_types", "batch", "atom_mask", "edge_src", "edge_dst", "edge_shift_vec", "edge_mask",
             "graph_mask", "volume")
    energy, forces = model(*[ms.Tensor(data["in:" + k]) for k in names])
    assert np.abs(data["forces"]).max() > 0.1
    np.testing.assert_allclose(energy.asnumpy(), data["energy"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(forces.asnumpy(), data["forces"], rtol=1e-12, atol=1e-12)
