"""The compile cache: its folder key changes with everything that enters the graphs, and fresh processes with
different models and buckets sharing one cache folder each get the numbers of an uncached run (MindSpore alone
would hand the second process the first one's graph)."""
import os

import numpy as np
import pytest

from applications.nequip.compile_cache import PlanItem, cache_key, resolve_root, source_fingerprint
from tests.applications.nequip.conftest import TINY, needs_model, run_command, strict_json, write_checkpoint


class _Cell:
    pass


class _T:
    def __init__(self, shape, dtype="Float32"):
        self.shape, self.dtype = shape, dtype


def test_root_folder_from_option_environment_or_default(tmp_path):
    assert resolve_root(None, {}) .endswith(os.path.join(".cache", "mindchemistry_e3", "compile"))
    assert resolve_root(None, {"XDG_CACHE_HOME": str(tmp_path)}) == str(tmp_path / "mindchemistry_e3" / "compile")
    assert resolve_root(None, {"NEQUIP_COMPILE_CACHE": str(tmp_path / "c")}) == str(tmp_path / "c")
    assert resolve_root(str(tmp_path / "d"), {"NEQUIP_COMPILE_CACHE": "off"}) == str(tmp_path / "d")
    for off in ("off", "OFF", "none", "0", ""):
        assert resolve_root(None, {"NEQUIP_COMPILE_CACHE": off}) is None


def test_key_changes_with_everything_that_enters_the_graphs():
    settings = {"model": {"l_max": 1, "r_max": 4.0}, "stats": {"avg_num_neighbors": 18.0}, "dtype": "float32"}
    plan = [PlanItem("a", _Cell(), [_T((64, 3)), _T((64,), "Int32")])]
    key, doc = cache_key(settings, plan, "CPU")
    assert doc["sources"] == source_fingerprint() and len(key) == 32
    assert cache_key(settings, plan, "CPU")[0] == key                                     # deterministic
    changed = [
        cache_key({**settings, "model": {"l_max": 2, "r_max": 4.0}}, plan, "CPU"),
        cache_key({**settings, "stats": {"avg_num_neighbors": 18.5}}, plan, "CPU"),
        cache_key({**settings, "dtype": "float64"}, plan, "CPU"),
        cache_key(settings, [PlanItem("a", _Cell(), [_T((128, 3)), _T((64,), "Int32")])], "CPU"),   # shape
        cache_key(settings, [PlanItem("a", _Cell(), [_T((64, 3), "Float64"), _T((64,), "Int32")])], "CPU"),
        cache_key(settings, plan + plan, "CPU"),                                           # another plan
        cache_key(settings, plan, "Ascend"),
    ]
    keys = [k for k, _ in changed]
    assert key not in keys and len(set(keys)) == len(keys)


def test_key_tells_graphs_with_native_kernels_from_graphs_without():
    """The same Cell built with and without the native CPU kernels compiles to different graphs (one calls the
    kernels' libraries): their keys differ, so neither loads the other's cached graph."""
    import mindspore as ms
    from mindchemistry_e3 import o3
    from mindchemistry_e3.util import native_kernels
    from tests.native_calls import skip_without_compiler

    skip_without_compiler()
    inputs = [ms.Tensor(np.zeros((8, 10), np.float32))]
    fused = PlanItem("linear", o3.Linear("4x0e + 2x1o", "3x0e + 1x1o"), inputs)
    with native_kernels(False):
        plain = PlanItem("linear", o3.Linear("4x0e + 2x1o", "3x0e + 1x1o"), inputs)
    assert any(entry.startswith("native:") and entry.endswith(".so") for entry in fused.signature())
    assert not any(entry.startswith("native:") for entry in plain.signature())
    assert cache_key({}, [fused], "CPU")[0] != cache_key({}, [plain], "CPU")[0]


@pytest.mark.slow
@needs_model
def test_processes_with_different_models_and_buckets_share_a_cache_safely(tmp_path):
    """Three fresh processes on one cache folder — model A (l_max 1, batches of 4), model B (l_max 2, another
    cutoff and average neighbour count, batches of 3: other buckets), A again — give exactly the numbers of
    uncached runs; the third one loads its graph from the cache."""
    small = {"r_max": 3.0, "l_max": 1, "num_layers": 1, "num_features": 4, "radial_mlp_layers": 1,
             "radial_mlp_neurons": 8}
    a = write_checkpoint(tmp_path / "a.ckpt", model_cfg=small, seed=1)
    b = write_checkpoint(tmp_path / "b.ckpt", model_cfg={**small, "r_max": 3.5, "l_max": 2}, seed=2)
    cache = str(tmp_path / "cache")

    def evaluate(ckpt, batch, name, use_cache):
        out = tmp_path / f"{name}.json"
        proc = run_command(["evaluate", "--checkpoint", ckpt, "--data", TINY, "--batch-size", str(batch),
                            "--threads", "1", "--json", str(out)]
                           + (["--compile-cache", cache] if use_cache else ["--no-compile-cache"]))
        assert proc.returncode == 0, proc.stderr[-3000:]
        return strict_json(out), proc.stderr

    first_a, log_a = evaluate(a, 4, "a1", True)
    first_b, log_b = evaluate(b, 3, "b1", True)
    again_a, log_a2 = evaluate(a, 4, "a2", True)
    assert "(now in the compile cache)" in log_a and "(now in the compile cache)" in log_b
    assert "(from the compile cache)" in log_a2
    assert len([d for d in os.listdir(cache) if not d.startswith(".")]) == 2
    plain_a, _ = evaluate(a, 4, "a0", False)
    plain_b, _ = evaluate(b, 3, "b0", False)
    assert first_a == again_a == plain_a
    assert first_b == plain_b
    assert first_a["force_mae_meV_A"] != first_b["force_mae_meV_A"]
    assert np.isfinite(first_b["energy_mae_meV"])
