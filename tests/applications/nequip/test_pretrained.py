"""The shipped pretrained model (applications/nequip/pretrained/aspirin): a MindSpore checkpoint that rebuilds
itself, gives the figures it ships with on the shipped test set, and agrees with the config beside it."""
import json
import os

import mindspore as ms
import pytest

from applications.nequip.checkpoint import CHECKPOINT_FORMAT, read_meta
from applications.nequip.config import DEFAULTS, load_config, same_model
from applications.nequip.model.build import build_network

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "applications", "nequip")
PRETRAINED = os.path.join(ROOT, "pretrained", "aspirin")
MODEL = os.path.join(PRETRAINED, "model.ckpt")
TEST_SET = os.path.join(ROOT, "datasets", "aspirin_xtb_test.npz")


def test_small_enough_to_ship():
    assert os.path.getsize(MODEL) < 2 * 1024 ** 2


def test_mindspore_loads_it_into_the_network():
    meta = read_meta(MODEL)
    assert meta["format"] == CHECKPOINT_FORMAT
    net = build_network(meta["config"]["model"], meta["stats"], meta["config"]["dtype"])
    params = ms.load_checkpoint(MODEL)
    not_loaded, _ = ms.load_param_into_net(net, params)
    assert not_loaded == []
    assert sum(p.size for p in net.trainable_params()) == 109688


def test_config_beside_it_is_the_one_it_was_trained_with():
    meta = read_meta(MODEL)
    cfg = load_config(os.path.join(PRETRAINED, "config.yaml"))
    assert same_model(cfg["model"], meta["config"]["model"])  # keys added since (compute_dtype) at their defaults
    assert cfg["training"] == {**DEFAULTS["training"], **meta["config"]["training"],  # keys added since: defaults
                               "progress": cfg["training"]["progress"]}
    assert os.path.isfile(cfg["data"]["train_file"]) and os.path.isfile(cfg["data"]["test_file"])


@pytest.mark.slow
def test_reproduces_its_test_set_figures():
    from applications.nequip.evaluate import evaluate

    with open(os.path.join(PRETRAINED, "metrics.json"), encoding="utf-8") as fh:
        shipped = json.load(fh)["test"]
    res = evaluate(MODEL, TEST_SET)
    assert res["frames"] == 200
    # float32 sums in another order (a fused kernel, another batch size) move the last digits only
    assert res["force_mae_meV_A"] == pytest.approx(shipped["f_mae"], rel=1e-3)
    assert res["force_rmse_meV_A"] == pytest.approx(shipped["f_rmse"], rel=1e-3)
    assert res["energy_mae_meV"] == pytest.approx(shipped["e_mae"], rel=1e-2)
