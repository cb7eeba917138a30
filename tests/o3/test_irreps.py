"""o3.Irrep / o3.Irreps: e3nn 0.6.0 parity of parsing and arithmetic, D_from_* matrices, bad input."""
import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3.o3 import Irrep, Irreps


@pytest.fixture
def ref(e3nn_fixture):
    return e3nn_fixture("irreps")


def test_parsing_and_properties_match_e3nn(ref):
    for i, case in enumerate(ref["cases"]):
        irreps = Irreps(str(case))
        assert repr(irreps) == ref["repr"][i]
        assert irreps.dim == ref["dim"][i]
        assert irreps.num_irreps == ref["num_irreps"][i]
        assert ",".join(map(str, irreps.ls)) == ref["ls"][i]
        if ref["lmax"][i] >= 0:
            assert irreps.lmax == ref["lmax"][i]
        else:
            with pytest.raises(ValueError, match="empty"):
                _ = irreps.lmax


def test_sort_simplify_regroup_match_e3nn(ref):
    for i, case in enumerate(ref["cases"]):
        irreps = Irreps(str(case))
        srt = irreps.sort()
        assert repr(srt.irreps) == ref["sort_irreps"][i]
        assert ",".join(map(str, srt.p)) == ref["sort_p"][i]
        assert ",".join(map(str, srt.inv)) == ref["sort_inv"][i]
        assert repr(irreps.simplify()) == ref["simplify"][i]
        assert repr(irreps.regroup()) == ref["regroup"][i]
        assert repr(irreps.remove_zero_multiplicities()) == ref["remove_zero"][i]


def test_filter_slice_iterator_match_e3nn(ref):
    base = Irreps("3x0e + 2x1o + 1e + 2x2e + 0o")
    assert repr(base.filter(keep=["0e", "1e"])) == ref["filter_keep"]
    # e3nn 0.6.0 turns each (mul, ir) of a string/Irreps `keep`/`drop` into an int (Irrep(_MulIr) returns l), so
    # it keeps nothing / drops nothing there; we follow its documented behaviour (filter by the irreps) instead.
    assert ref["filter_keep_str"] == "" and ref["filter_drop"] == repr(base)
    assert repr(base.filter(keep="2e + 2x1o")) == "2x1o+2x2e"
    assert repr(base.filter(drop="2e + 2x1o")) == "3x0e+1x1e+1x0o"
    assert repr(base.filter(keep=lambda mul_ir: mul_ir.mul == 2)) == "2x1o+2x2e"
    assert repr(base.filter(lmax=1)) == ref["filter_lmax"]
    got = [repr(base.slice_by_mul[a:b]) for a, b in [(0, 2), (2, 5), (1, 8), (4, 4)]]
    assert got == list(ref["slice_by_mul"])
    assert [repr(Irreps.spherical_harmonics(3)), repr(Irreps.spherical_harmonics(4, p=1))] == list(ref["sh"])
    assert [str(ir) for ir in Irrep.iterator(3)] == list(ref["iterator"])
    products = [str(list(Irrep("2o") * Irrep("1e"))), str(list(Irrep("1o") * Irrep("1o")))]
    assert products == list(ref["products"])


def test_equality_hash_and_constructors():
    assert Irreps("2x1e+0o") == Irreps([(2, "1e"), "0o"]) == Irreps([(2, (1, 1)), (1, Irrep(0, -1))])
    assert hash(Irreps("1o")) == hash(Irreps([(1, (1, -1))]))
    assert Irrep("1o") == (1, -1) and Irrep((2, 1)) == Irrep(2, 1)
    assert Irreps(Irreps("1e")) == Irreps(Irrep("1e")) == Irreps("1x1e")
    assert Irreps(None) == Irreps("") == Irreps([])
    assert Irreps("1e")[0].mul == 1 and Irreps("3x2o")[0].ir == Irrep("2o") and Irreps("3x2o")[0].dim == 15
    assert isinstance(Irreps("1e + 2o")[1:], Irreps)
    assert Irreps("1e") + "2o" == Irreps("1e + 2o") and "2o" + Irreps("1e") == Irreps("2o + 1e")
    assert Irreps("0e + 1o") * 2 == Irreps("0e+1o+0e+1o") == 2 * Irreps("0e + 1o")
    assert 3 * Irrep("1e") == Irreps("3x1e") and Irrep("1o") + Irrep("2o") == Irreps("1o+2o")
    assert "1o" in Irreps("2x0e + 1o") and Irrep("2e") not in Irreps("2x0e + 1o")
    assert Irreps("2x1o + 0e + 3x1o").count("1o") == 5
    assert Irreps("2x0e + 1e").slices() == [slice(0, 2), slice(2, 5)]
    assert Irrep("0e").is_scalar() and not Irrep("0o").is_scalar()
    with pytest.raises(NotImplementedError):
        _ = Irreps("1e") * Irreps("1e")


@pytest.mark.parametrize("bad", ["1x", "-1e", "2", "1q", "ax1e", "1e + + 2o", "-3x1e", "1.5e"])
def test_bad_irreps_string_is_rejected(bad):
    with pytest.raises(ValueError, match="Irrep"):
        Irreps(bad)


def test_bad_irrep_is_rejected():
    with pytest.raises(ValueError, match="l must be"):
        Irrep(-1, 1)
    with pytest.raises(ValueError, match="parity"):
        Irrep(1, 0)
    with pytest.raises(ValueError, match="interpret"):
        Irreps([(1, 2, 3)])
    with pytest.raises(ValueError, match="Cannot specify both"):
        Irreps("1e").filter(keep="1e", drop="0e")


def test_randn_shapes_and_norm():
    x = Irreps("5x0e + 10x1o").randn(5, -1, 3, normalization="norm", seed=0, dtype=ms.float64)
    assert x.shape == (5, 35, 3) and x.dtype == ms.float64
    blocks = x.asnumpy()[:, 5:, :].reshape(5, 10, 3, 3)
    np.testing.assert_allclose(np.linalg.norm(blocks, axis=2), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="-1"):
        Irreps("1e").randn(5, 3)


@pytest.mark.parametrize("dtype,tol", [(ms.float64, 1e-10), (ms.float32, 1e-5)])
def test_D_from_matches_e3nn(ref, dtype, tol):
    pytest.importorskip("mindchemistry_e3.o3._wigner")
    irreps = Irreps(str(ref["D_irreps"]))

    def t(name):
        return ms.Tensor(ref[name], dtype)

    got = irreps.D_from_angles(t("alpha"), t("beta"), t("gamma"), t("k"))
    np.testing.assert_allclose(got.asnumpy(), ref["D_angles"], atol=tol)
    np.testing.assert_allclose(irreps.D_from_quaternion(t("q")).asnumpy(), ref["D_quaternion"], atol=tol)
    np.testing.assert_allclose(irreps.D_from_matrix(t("R")).asnumpy(), ref["D_matrix"], atol=tol * 10)
    got = irreps.D_from_axis_angle(t("axis"), t("angle")).asnumpy()
    np.testing.assert_allclose(got, ref["D_axis_angle"], atol=tol * 10)
