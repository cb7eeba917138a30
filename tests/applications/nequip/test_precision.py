"""Mixed-precision NequIP (``model.compute_dtype``): float16 / bfloat16 products against float32, float32 scale,
shift and energies, the float16 train step's dynamic loss scaling (an overflowing step is skipped and counted),
the config and command-line checks, and the shipped float32 model run with float16 products."""
import os

import numpy as np
import pytest
import mindspore as ms
from mindspore import amp, nn

from applications.nequip.config import load_config
from applications.nequip.data import TypeMapper, build_neighbors, collate
from applications.nequip.model import EnergyForceModel, LossNet, TrainStep
from applications.nequip.model.loss import LossScale
from applications.nequip.train import batch_inputs
from mindchemistry_e3.util import native_kernels
from tests.applications.nequip.conftest import molecules, needs_model, small_net

MAPPER = TypeMapper([1, 6, 8])
ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "applications", "nequip")
PRETRAINED = os.path.join(ROOT, "pretrained", "aspirin", "model.ckpt")
TEST_SET = os.path.join(ROOT, "datasets", "aspirin_xtb_test.npz")


@pytest.fixture(scope="module")
def batch():
    frames = build_neighbors(molecules(2, seed=5), 3.0)
    return collate(frames, MAPPER, dtype=np.float32, n_pad=16, e_pad=96, num_graphs=3)


def _twin(compute_dtype):
    ms.set_seed(0)
    ref = small_net(dtype=ms.float32)
    low = small_net(dtype=ms.float32, compute_dtype=compute_dtype)
    for p, q in zip(ref.get_parameters(), low.get_parameters()):
        q.set_data(ms.Tensor(p.asnumpy(), q.dtype))
    return ref, low


@needs_model
@pytest.mark.parametrize("compute_dtype, tol_e, tol_f", [(ms.float16, 2e-3, 4e-3), (ms.bfloat16, 2e-2, 3e-2)],
                         ids=["float16", "bfloat16"])
def test_energies_and_forces_match_float32(graph_mode, batch, compute_dtype, tol_e, tol_f):
    ref, low = _twin(compute_dtype)
    assert low.per_species_shift.dtype == ms.float32 and low.per_species_scale.dtype == ms.float32
    inputs = batch_inputs(batch, ms.float32, labels=False)
    (e_ref, f_ref), (e_low, f_low) = EnergyForceModel(ref)(*inputs), EnergyForceModel(low)(*inputs)
    assert e_low.dtype == ms.float32 and f_low.dtype == ms.float32
    n = batch.num_graphs_real if hasattr(batch, "num_graphs_real") else 2
    e_ref, e_low = e_ref.asnumpy()[:n], e_low.asnumpy()[:n]
    f_ref, f_low = f_ref.asnumpy(), f_low.asnumpy()
    # the shifts (-1, -2, -3 eV per atom) stay exact: the deviation is that of the learned part only
    assert 0 < np.abs(e_low - e_ref).max() / 6 < tol_e
    assert 0 < np.abs(f_low - f_ref).max() / np.abs(f_ref).max() < tol_f


def _energy_inputs(batch):
    """The inputs of the energy network (NequIP.construct) for ``batch``."""
    pos = batch.pos[batch.edge_dst] - batch.pos[batch.edge_src] + batch.edge_shift_vec
    return (ms.Tensor(pos.astype(np.float32)), ms.Tensor(batch.atom_types, ms.int32),
            ms.Tensor(batch.edge_src, ms.int32), ms.Tensor(batch.edge_dst, ms.int32),
            ms.Tensor(batch.edge_mask, ms.float32), ms.Tensor(batch.atom_mask, ms.float32),
            ms.Tensor(batch.batch, ms.int32), ms.Tensor(batch.graph_mask, ms.float32))


def _train_step(compute_dtype, loss_scale):
    ms.set_seed(0)
    net = small_net(dtype=ms.float32, compute_dtype=compute_dtype)
    loss = LossNet(EnergyForceModel(net), 1.0, 1.0)
    return net, TrainStep(loss, nn.Adam(loss.trainable_params(), 1e-2), ema=True, loss_scale=loss_scale)


@needs_model
def test_float16_train_step_scales_the_loss(graph_mode, batch):
    net, step = _train_step(ms.float16, LossScale(init=1024.0, window=2))
    before = [p.asnumpy().copy() for p in net.trainable_params()]
    inputs = batch_inputs(batch, ms.float32)
    decay = ms.Tensor(0.5, ms.float32)
    losses = [float(step(*inputs, decay)[0].asnumpy()) for _ in range(3)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert int(step.skipped_steps.asnumpy()) == 0
    assert float(step.loss_scale.asnumpy()) == 2048.0  # doubled after `window` finite steps
    assert any(not np.array_equal(b, p.asnumpy()) for b, p in zip(before, net.trainable_params()))
    sums = step.sums.asnumpy()
    assert sums[0] == 3 and sums[1] == pytest.approx(sum(losses), rel=1e-5)  # unscaled losses


@needs_model
def test_float16_overflow_skips_the_step(graph_mode, batch):
    net, step = _train_step(ms.float16, LossScale(init=2.0 ** 40, window=10))
    before = [p.asnumpy().copy() for p in net.trainable_params()]
    ema_before = step.ema_arrays()
    step(*batch_inputs(batch, ms.float32), ms.Tensor(0.5, ms.float32))
    assert int(step.skipped_steps.asnumpy()) == 1
    assert float(step.loss_scale.asnumpy()) == 2.0 ** 39
    assert all(np.array_equal(b, p.asnumpy()) for b, p in zip(before, net.trainable_params()))
    assert all(np.array_equal(b, a) for b, a in zip(ema_before, step.ema_arrays()))
    assert not step.sums.asnumpy().any()  # a skipped step adds nothing to the epoch's metrics


@needs_model
def test_bfloat16_model_builds_and_trains_on_cpu(graph_mode, batch):
    net, step = _train_step(ms.bfloat16, None)
    loss = step(*batch_inputs(batch, ms.float32), ms.Tensor(0.5, ms.float32))[0]
    assert np.isfinite(loss.asnumpy())


@needs_model
def test_amp_o1_on_the_model_stops_inside_mindspore(graph_mode, tmp_path, monkeypatch):
    """Before it reaches the library's Cells (which refuse it naming compute_dtype, tests/util/test_precision.py)
    MindSpore's O1 rewrite fails on the network's module-level Cells (segment sum, SiLU, row gather) and on the wrapper's stored
    ms.value_and_grad (the README says so): an error, never a silently rewritten model."""
    monkeypatch.chdir(tmp_path)  # O1 writes rewritten_network/ here
    with pytest.raises(TypeError, match="got (_SiLU|_SegmentSum|_GatherRows)"):
        amp.auto_mixed_precision(small_net(dtype=ms.float32), "O1")
    with pytest.raises(NameError, match="jit"):
        amp.auto_mixed_precision(EnergyForceModel(small_net(dtype=ms.float32)), "O1")


@needs_model
def test_amp_o2_on_the_network_names_compute_dtype(graph_mode, batch):
    net = amp.auto_mixed_precision(small_net(dtype=ms.float32), "O2")
    with pytest.raises(ValueError, match="compute_dtype=Float16"):
        net(*_energy_inputs(batch))


def test_bad_input_config():
    assert load_config({"model": {"compute_dtype": "float16"}})["model"]["compute_dtype"] == "float16"
    with pytest.raises(ValueError, match="model.compute_dtype must be null, float16 or bfloat16"):
        load_config({"model": {"compute_dtype": "float64"}})
    with pytest.raises(ValueError, match="needs dtype float32"):
        load_config({"dtype": "float64", "model": {"compute_dtype": "float16"}})


def test_bad_input_compute_dtype_with_an_exported_model():
    from applications.nequip.inference import load_predictor

    with pytest.raises(ValueError, match="exported model keeps the precision"):
        load_predictor(model="some/export", compute_dtype="float16")


def test_data_parallel_refuses_float16():
    from applications.nequip.distributed import DataParallel

    dp = DataParallel.__new__(DataParallel)
    dp.size = 2
    with pytest.raises(ValueError, match="compute_dtype float16"):
        dp.check(load_config({"model": {"compute_dtype": "float16"}, "training": {"batch_size": 4}}))


@pytest.mark.slow
def test_pretrained_float32_model_with_float16_products(graph_mode):
    """The issue's targets on the first 16 test frames: force RMS deviation <= 2 meV/Å, energy <= 0.5 meV/atom."""
    from applications.nequip.inference import Predictor
    from applications.nequip.training.data import read_frames

    frames = read_frames(TEST_SET, {"format": "auto"})[:16]
    out = {}
    for name in ("float32", "float16"):
        res = Predictor.from_checkpoint(PRETRAINED, batch_size=8, compute_dtype=name).predict(frames)
        out[name] = (np.array([r["energy"] for r in res]), np.concatenate([r["forces"] for r in res]))
    atoms = np.array([f.num_atoms for f in frames])
    de = np.abs(out["float16"][0] - out["float32"][0]) / atoms * 1e3
    df = (out["float16"][1] - out["float32"][1]) * 1e3
    assert 0 < de.max() <= 0.5
    assert 0 < np.sqrt((df ** 2).mean()) <= 2.0


@needs_model
def test_evaluate_with_compute_dtype(tiny_checkpoint, tmp_path, graph_mode):
    from applications.nequip import cli
    from tests.applications.nequip.conftest import TINY, strict_json

    res = {}
    for name in ("float32", "float16"):
        out = tmp_path / f"{name}.json"
        assert cli.main(["evaluate", "--checkpoint", tiny_checkpoint, "--data", TINY, "--compute-dtype", name,
                         "--json", str(out)]) == 0
        res[name] = strict_json(out)
    f32, f16 = res["float32"]["force_mae_meV_A"], res["float16"]["force_mae_meV_A"]
    assert f16 != f32 and f16 == pytest.approx(f32, rel=1e-2)
    with pytest.raises(SystemExit) as exit_info:  # argparse's own refusal of a choice
        cli.main(["evaluate", "--checkpoint", tiny_checkpoint, "--data", TINY, "--compute-dtype", "int8"])
    assert exit_info.value.code == 2


@pytest.mark.slow
@needs_model
def test_deploy_with_compute_dtype_gives_the_checkpoint_numbers(tiny_checkpoint, tmp_path, graph_mode):
    from applications.nequip import cli
    from applications.nequip.inference import Predictor, read_export_meta
    from tests.applications.nequip.conftest import TINY, tiny_frames

    out = tmp_path / "f16"
    assert cli.main(["deploy", "--checkpoint", tiny_checkpoint, "--out", str(out), "--bucket", "9x160",
                     "--compute-dtype", "float16", "--no-stress"]) == 0
    meta, _ = read_export_meta(str(out))
    assert meta["config"]["model"]["compute_dtype"] == "float16"
    frames = tiny_frames(1)
    with native_kernels(False):  # as deploy builds its graphs (the kernels agree with the plain ops to rounding)
        want = Predictor.from_checkpoint(tiny_checkpoint, batch_size=1, compute_dtype="float16").predict(frames,
                                                                                                        False)
    got = Predictor.from_exported(str(out)).predict(frames, False)
    assert got[0]["energy"] == pytest.approx(want[0]["energy"], rel=1e-6)
    np.testing.assert_allclose(got[0]["forces"], want[0]["forces"], rtol=1e-5, atol=1e-6)
    assert cli.main(["evaluate", "--model", str(out), "--data", TINY, "--compute-dtype", "float16"]) == 2
