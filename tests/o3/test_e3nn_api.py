"""e3nn's API surface in o3: half-integer su2_generators (e3nn parity), o3.irrep, torch-style keywords (device=,
requires_grad=, positional dtype), TensorProduct.visualize."""
import numpy as np
import mindspore as ms
import pytest

import mindchemistry_e3
from mindchemistry_e3 import o3

F64 = ms.float64


@pytest.mark.parametrize("j", [0.5, 1, 1.5, 2, 2.5])
def test_su2_generators_match_e3nn(e3nn_fixture, j):
    f = e3nn_fixture("api_su2")
    g = o3.su2_generators(j, dtype=F64).asnumpy()
    np.testing.assert_allclose(g.real, f[f"real_{j}"], atol=1e-15)
    np.testing.assert_allclose(g.imag, f[f"imag_{j}"], atol=1e-15)


def test_su2_generators_commutation_half_integer():
    """[X_a, X_b] = eps_abc X_c up to e3nn's ordering and sign: the Lie algebra of SU(2) for j = 3/2."""
    x = o3.su2_generators(1.5, dtype=F64).asnumpy()
    comm = x[0] @ x[1] - x[1] @ x[0]
    assert np.abs(np.abs(comm) - np.abs(x[2])).max() < 1e-12
    with pytest.raises(ValueError, match="half-integer"):
        o3.su2_generators(0.25)
    with pytest.raises(ValueError, match="half-integer"):
        o3.su2_generators(-1)


def test_irrep_module():
    from mindchemistry_e3.o3.irrep import l2e

    assert l2e == o3.Irrep("2e") and o3.irrep.l0o == o3.Irrep("0o")
    with pytest.raises(AttributeError):
        o3.irrep.x1o  # noqa: B018
    with pytest.raises(AttributeError):
        o3.irrep.l1x  # noqa: B018


def test_torch_style_keywords():
    """device= and requires_grad= are accepted (and ignored) where e3nn has them; dtype is positional where e3nn
    allows it."""
    assert o3.rand_matrix(2, requires_grad=True, dtype=F64, device="cpu").dtype == F64
    for fn in (o3.identity_angles, o3.rand_angles):
        assert all(a.dtype == F64 for a in fn(3, requires_grad=False, dtype=F64, device=None))
    assert o3.rand_quaternion(2, dtype=F64, device="cpu").shape == (2, 4)
    assert o3.identity_quaternion(2, device="cpu").shape == (2, 4)
    assert o3.rand_axis_angle(2, device="cpu")[0].shape == (2, 3)
    assert o3.wigner_3j(1, 1, 2, F64, "cpu").dtype == F64
    assert o3.change_basis_real_to_complex(1, F64, None).dtype == ms.complex128
    betas, alphas = o3.s2_grid(4, 5, F64, "cpu")
    assert betas.dtype == F64 and alphas.shape == (5,)
    assert o3.spherical_harmonics_s2_grid(2, 4, 5, F64)[2].dtype == F64
    assert o3.ToS2Grid(2, (6, 7), "component", F64, "cpu").sha.dtype == F64
    assert o3.FromS2Grid((6, 7), 2, "component", None, F64, "cpu").grid.shape == (6, 7, 3)
    x = o3.Irreps("2x1o").randn(3, -1, requires_grad=True, dtype=F64, device="cpu")
    assert x.shape == (3, 6) and x.dtype == F64
    assert mindchemistry_e3.math.moment(ms.ops.tanh, 2, F64, "cpu").dtype == F64
    assert mindchemistry_e3.math.normalize2mom(ms.ops.tanh, F64, "cpu").cst_tensor.dtype == F64


def test_defaults_follow_the_default_dtype():
    mindchemistry_e3.set_default_dtype(F64)
    try:
        assert o3.so3_generators(1).dtype == F64
        assert o3.s2_grid(4, 5)[0].dtype == F64
        assert mindchemistry_e3.math.moment(ms.ops.tanh, 2).dtype == F64
        assert o3.SphericalHarmonicsAlphaBeta(1).legendre._coefficients.dtype == F64
        assert o3.FullTensorProductv2("1o", "1o")._tables[0].dtype == F64
        assert mindchemistry_e3.math.reduce_permutation(*mindchemistry_e3.math.germinate_formulas("ij=ji"),
                                                        i=2)[0].dtype == F64
    finally:
        mindchemistry_e3.set_default_dtype(ms.float32)


def test_visualize():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tp = o3.FullyConnectedTensorProduct("2x0e + 1o", "1o + 2e", "0e + 1o + 2e", dtype=F64)
    fig, ax = plt.subplots()
    out = tp.visualize(ax=ax)
    assert out == (fig, ax)
    assert len(ax.patches) == 1 + len(tp.instructions)
    assert len(ax.texts) == len(tp.irreps_in1) + len(tp.irreps_in2) + len(tp.irreps_out)
    # a path of zero weights is drawn in the palest colour of the colormap
    weight = np.ones(tp.weight_numel)
    weight[:int(np.prod(tp.instructions[0].path_shape))] = 0.0
    _, ax2 = tp.visualize(weight=ms.Tensor(weight, F64), aspect_ratio="auto", ax=plt.subplots()[1])
    colors = [p.get_edgecolor() for p in ax2.patches[1:]]
    assert colors[0] == matplotlib.colormaps["Blues"](0.5, alpha=0.5) and colors[1] != colors[0]
    with pytest.raises(ValueError, match="aspect_ratio"):
        tp.visualize(aspect_ratio="wide")
    plt.close("all")
