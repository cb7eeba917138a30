"""scripts/bench_peers.py and scripts/peers: the side-by-side benchmark command (ours only: peers need own venvs)."""
import argparse
import json

import pytest
import yaml

from scripts import bench_peers
from scripts.peers import nequip019


def test_ours_only_quick_run_writes_the_report(tmp_path, graph_mode):
    out_json, out_md = tmp_path / "b.json", tmp_path / "b.md"
    assert bench_peers.main(["--workloads", "W1", "--scale", "0.0001", "--runs", "1", "--warmup", "0",
                             "--rounds", "1", "--no-epoch", "--out-json", str(out_json),
                             "--out-md", str(out_md)]) == 0
    report = json.loads(out_json.read_text())
    ours = report["raw"]["W1"]["sides"]["ours"]
    assert report["raw"]["W1"]["size"] == 10 and ours["fwd"] > 0 and ours["fwd_bwd"] > 0
    assert ours["first_fwd"] > 0 and [r["phase"] for r in report["workloads"]] == ["fwd", "fwd_bwd"]
    assert "| W1 spherical_harmonics l=0..3, N=10 | fwd |" in out_md.read_text()


def test_table_rows_ratio_is_peer_over_ours_and_names_the_fastest_peer():
    raw = {"W2": {"size": 20000, "sides": {
        "ours": {"fwd": 0.2, "fwd_bwd": 1.0, "first_fwd": 5.0, "first_fwd_bwd": 9.0},
        "e3nn eager": {"fwd": 0.8, "fwd_bwd": 4.0, "first_fwd": 0.9, "first_fwd_bwd": 4.1},
        "e3nn-jax": {"fwd": 0.6, "fwd_bwd": 0.5, "first_fwd": 2.0, "first_fwd_bwd": 6.0},
        "torch.compile": {"skipped": "e3nn_torch.py failed"}}}}
    fwd, fwd_bwd = bench_peers.table_rows(raw)
    assert fwd["peers"]["e3nn eager"]["ratio"] == pytest.approx(4.0) and fwd["fastest_peer"] == "e3nn-jax"
    assert fwd_bwd["peers"]["e3nn-jax"]["ratio"] == pytest.approx(0.5)
    assert fwd_bwd["peers"]["torch.compile"]["time"] is None
    md = bench_peers.markdown({"workloads": [fwd, fwd_bwd]})
    assert "| 0.8000 | 4.00x |" in md and "| 0.5000 | 0.50x |" in md


def test_nequip019_config_trains_our_model_section():
    model = {"r_max": 4.0, "l_max": 1, "parity": True, "num_layers": 3, "num_features": 32, "num_basis": 8,
             "trainable_bessel": True, "cutoff_p": 6, "radial_mlp_layers": 2, "radial_mlp_neurons": 64,
             "symbols": ["H", "C", "O"]}
    args = argparse.Namespace(train="t.xyz", val="v.xyz", batch_size=5, epochs=3, lr=0.01)
    cfg = yaml.safe_load(nequip019.config_yaml(args, model))
    m = cfg["training_module"]["model"]
    assert (m["r_max"], m["l_max"], m["parity"], m["num_layers"], m["num_features"], m["num_bessels"]) == \
        (4.0, 1, True, 3, 32, 8)
    assert (m["radial_mlp_depth"], m["radial_mlp_width"], m["bessel_trainable"], m["polynomial_cutoff_p"]) == \
        (2, 64, True, 6)
    assert cfg["data"]["train_dataloader"]["batch_size"] == 5 and cfg["trainer"]["max_epochs"] == 3
    assert cfg["data"]["train_file_path"] == "t.xyz" and cfg["data"]["val_file_path"] == "v.xyz"
    assert cfg["training_module"]["optimizer"]["amsgrad"] is True and cfg["training_module"]["ema_decay"] == 0.99
