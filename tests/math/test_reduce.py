"""math.germinate_formulas / reduce_permutation: e3nn 0.6.0 parity (groups, bases, chosen orbits)."""
import json

import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3.math import germinate_formulas, reduce_permutation


@pytest.mark.parametrize("k", range(4))
def test_matches_e3nn(e3nn_fixture, k):
    f = e3nn_fixture("api_reduce")
    formula, dims = json.loads(str(f["cases"]))[k]
    f0, formulas = germinate_formulas(formula)
    assert f0 == str(f[f"{k}_f0"])
    assert sorted([s, list(p)] for s, p in formulas) == json.loads(str(f[f"{k}_formulas"]))
    q, ret = reduce_permutation(f0, formulas, dtype=ms.float64, **dims)
    np.testing.assert_allclose(q.asnumpy(), f[f"{k}_q"], atol=1e-15)
    assert [[[s, list(e)] for s, e in x] for x in ret] == json.loads(str(f[f"{k}_ret"]))


def test_bad_input():
    with pytest.raises(ValueError, match="permutation"):
        germinate_formulas("ij=ik")
    with pytest.raises(ValueError, match="no dimension"):
        reduce_permutation(*germinate_formulas("ij=ji"))
    with pytest.raises(ValueError, match="should be the same"):
        reduce_permutation(*germinate_formulas("ij=ji"), i=2, j=3)
