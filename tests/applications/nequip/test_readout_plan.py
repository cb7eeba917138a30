"""The plan of NequIP's scalar-only last layer (applications.nequip.model.readout_np): the product paths into the
read irreps, their weight columns and layouts against the full product (values), and the layer's refusals."""
import numpy as np
import mindspore as ms
import pytest

from applications.nequip.model.interaction import ConvLayer
from applications.nequip.model.readout_np import product_part, segment_columns_in
from mindchemistry_e3 import o3
from mindchemistry_e3.util._column_map_np import apply_column_map
from tests.plan_isolation import imports_mindspore

F64 = ms.float64


def test_plan_imports_no_mindspore():
    assert not imports_mindspore("applications.nequip.model.readout_np",
                                 ("applications", "applications.nequip", "applications.nequip.model"))


@pytest.mark.parametrize("irreps_in, irreps_sh, irs", [
    ("3x0e + 2x1o + 2x1e + 3x0o", "0e + 1o", ["0e"]),
    ("2x0e + 2x1o + 2x2e", "0e + 1o + 2e", ["0e", "0o"]),
    ("2x0o + 3x1e", "0e + 1o", ["0o"]),
])
def test_product_part_equals_the_full_product_on_its_outputs(irreps_in, irreps_sh, irs):
    """The kept paths on the picked inputs with the picked weight columns give the full product's outputs of the
    read irreps (its other outputs: no kept path writes them); every path into a read irrep is kept."""
    irs = {o3.Irrep(ir) for ir in irs}
    outs = o3.Irreps([(2, ir) for ir in ("0e", "0o", "1o", "1e", "2e")])
    mid, ins = o3.uvu_instructions(irreps_in, irreps_sh, outs)
    part = product_part(irreps_in, irreps_sh, mid, ins, irs)
    assert len(part.instructions) == sum(mid[i[2]].ir in irs for i in ins) > 0
    assert {ir for _, ir in part.irreps_mid} <= irs
    full = o3.TensorProduct(irreps_in, irreps_sh, mid, ins, shared_weights=False, dtype=F64)
    kept = o3.TensorProduct(part.irreps_in, irreps_sh, part.irreps_mid, part.instructions, shared_weights=False,
                            dtype=F64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, o3.Irreps(irreps_in).dim))
    y = rng.standard_normal((5, o3.Irreps(irreps_sh).dim))
    w = rng.standard_normal((5, full.weight_numel))
    expected = full(ms.Tensor(x), ms.Tensor(y), ms.Tensor(w)).asnumpy()
    got = kept(ms.Tensor(apply_column_map(part.in_map, x)), ms.Tensor(y),
               ms.Tensor(w[:, part.weight_columns])).asnumpy()
    read = [c for cols, (_, ir) in zip(mid.slices(), mid) if ir in irs for c in range(mid.dim)[cols]]
    np.testing.assert_allclose(apply_column_map(part.mid_map, got)[:, read], expected[:, read], rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(got, expected[:, read], rtol=1e-12, atol=1e-12)


def test_product_part_refuses_unreachable_irreps():
    mid, ins = o3.uvu_instructions("2x0e", "0e", "2x0e")
    with pytest.raises(ValueError, match="no path"):
        product_part("2x0e", "0e", mid, ins, {o3.Irrep("0o")})


def test_segment_columns_in_follow_the_simplified_ranges():
    assert segment_columns_in("2x0e + 1x0e + 3x0o", ((4, 7), (0, 3))) == [[4, 5], [6], [0, 1, 2]]
    with pytest.raises(ValueError, match="do not fill"):
        segment_columns_in("2x0e", ((0, 3),))


def test_conv_layer_restricted_to_the_irreps_read():
    """The kept outputs, what the layer then reads of its input, and the refusal of irreps it has no output of."""
    kw = dict(num_types=2, num_basis=8, radial_mlp_layers=1, radial_mlp_neurons=8)
    with pytest.raises(ValueError, match="no output"):
        ConvLayer("4x0e + 4x1o", "4x0e + 4x1o", "0e + 1o", irreps_read="0o", **kw)
    layer = ConvLayer("4x0e + 4x1o + 4x1e", "4x0e + 4x0o + 4x1o", "0e + 1o", irreps_read="0e + 0o", **kw)
    assert layer.restricted and str(layer.irreps_out) == "4x0e+4x0o"
    assert str(layer.input_read) == "1x0e+1x1o+1x1e"    # 0e: 0e x 0e, 1o x 1o; 0o: 1e x 1o
    layer = ConvLayer("4x0e + 4x1o + 4x1e", "4x0e + 4x1o + 4x1e", "0e + 1o", irreps_read="1o", **kw)
    assert str(layer.irreps_out) == "4x1o" and str(layer.gate.irreps_in) == "4x0e+4x1o"   # its gates kept
    with pytest.raises(ValueError, match="restricted already"):
        layer.restrict("1o")
    full = ConvLayer("4x0e + 4x1o", "4x0e + 4x1o", "0e + 1o", **kw)
    assert not full.restrict("0e + 1o + 1e") and not full.restricted    # every output read: unchanged
