"""load_e3nn_state_dict: an e3nn state_dict exported by scripts/e3nn_state_dict_to_npz.py loads into the matching
Cell and reproduces e3nn's output; buffers are reported, mismatches refused with their names."""
import json

import numpy as np
import mindspore as ms
import pytest

from mindchemistry_e3.nn.models.gate_points_2101 import Network
from mindchemistry_e3.util.e3nn_weights import PARAMETERS_KEY, load_e3nn_state_dict

F64 = ms.float64


def _network(f, dtype=F64):
    config = json.loads(str(f["config"]))
    return Network(*config["args"], **config["kwargs"], dtype=dtype)


def _data(f, dtype=F64):
    return {"pos": ms.Tensor(f["in:pos"], dtype), "x": ms.Tensor(f["in:x"], dtype), "z": ms.Tensor(f["in:z"], dtype),
            "batch": ms.Tensor(f["in:batch"], ms.int64)}


@pytest.mark.parametrize("name", ["models_2101_a_state_dict", "models_2101_a_state_dict_plain"])
def test_loads_e3nn_weights(e3nn_fixture, name):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    f = e3nn_fixture("models_2101_a")
    state = e3nn_fixture(name)
    net = _network(f)
    report = load_e3nn_state_dict(net, state)
    assert report.loaded == sorted(str(n) for n in f["param_names"]) and report.missing == []
    assert report.ignored and all(n.endswith("output_mask") or "_compiled_" in n or n.endswith(".weight")
                                  for n in report.ignored)
    assert set(report.ignored) == {k for k in state if k != PARAMETERS_KEY} - set(report.loaded)
    np.testing.assert_allclose(net(_data(f)).asnumpy(), f["out"], rtol=1e-10, atol=1e-12)


def test_loads_into_float32(e3nn_fixture):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    f = e3nn_fixture("models_2101_a")
    net = _network(f, ms.float32)
    load_e3nn_state_dict(net, e3nn_fixture("models_2101_a_state_dict"))
    assert all(p.dtype == ms.float32 for p in net.get_parameters())
    np.testing.assert_allclose(net(_data(f, ms.float32)).asnumpy(), f["out"], rtol=1e-4, atol=1e-5)


def test_refuses_mismatches(e3nn_fixture, tmp_path):
    f = e3nn_fixture("models_2101_a")
    state = e3nn_fixture("models_2101_a_state_dict")
    net = _network(f)
    before = {n: p.asnumpy().copy() for n, p in net.parameters_and_names()}

    bad_shape = dict(state, **{"layers.0.first.sc.weight": np.zeros(3)})
    with pytest.raises(ValueError, match=r"shape of layers\.0\.first\.sc\.weight: file \(3,\)"):
        load_e3nn_state_dict(net, bad_shape)
    unknown = dict(state, **{"layers.9.weight": np.zeros(2)})
    unknown[PARAMETERS_KEY] = np.append(state[PARAMETERS_KEY], "layers.9.weight")
    with pytest.raises(ValueError, match=r"layers\.9\.weight \(shape \(2,\)\) is not a parameter"):
        load_e3nn_state_dict(net, unknown)
    missing = {k: v for k, v in e3nn_fixture("models_2101_a_state_dict_plain").items() if k != "layers.2.lin2.weight"}
    with pytest.raises(ValueError, match=r"missing from the file: \['layers\.2\.lin2\.weight'\]"):
        load_e3nn_state_dict(net, missing)
    for n, p in net.parameters_and_names():  # nothing was loaded by the refused calls
        np.testing.assert_array_equal(p.asnumpy(), before[n])
    report = load_e3nn_state_dict(net, missing, strict=False)
    assert report.missing == ["layers.2.lin2.weight"]
    path = tmp_path / "weights.npz"
    np.savez(path, **state)
    assert load_e3nn_state_dict(net, str(path)).loaded == sorted(report.loaded + ["layers.2.lin2.weight"])


def test_loading_after_compile_is_seen(e3nn_fixture):
    """Weights loaded into a Cell already compiled with util.jit are the ones it computes with (in place; in
    PyNative a jit-compiled Cell does not see Parameter.set_data)."""
    from mindchemistry_e3.util import jit

    ms.set_context(mode=ms.PYNATIVE_MODE)
    f = e3nn_fixture("models_2101_a")
    net = jit.compile(_network(f), in_place=True)   # 'script'-marked convolutions: construct jitted
    data = _data(f)
    net(data)  # compiled with the initial weights
    load_e3nn_state_dict(net, e3nn_fixture("models_2101_a_state_dict"))
    np.testing.assert_allclose(net(data).asnumpy(), f["out"], rtol=1e-10, atol=1e-12)
