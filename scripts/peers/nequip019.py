"""Train nequip 0.19.1 (PyTorch eager) for a few epochs on extxyz files and report its epoch times.

    python scripts/peers/nequip019.py --train train.xyz --val val.xyz --model model.json --batch-size 5 \
        --epochs 3 --workdir DIR

Run by the Python of a venv with ``torch==2.13.0`` and ``nequip==0.19.1``. Writes a nequip config for the model
of ``--model`` (our config's ``model`` section: r_max, l_max, parity, num_layers, num_features, num_basis,
trainable_bessel, cutoff_p, radial_mlp_layers/neurons), trains it with ``nequip-train`` (Adam with AMSGrad, EMA
0.99, per-atom energy + force MSE, data statistics for the average number of neighbours, per-type shifts and
scales, as NequIP's example config does), one thread, no data-loader workers, no sanity validation, no
checkpoints or loggers, and prints one JSON line: the per-epoch wall times of training and validation measured
by ``nequip_epoch_timer.EpochTimer``, and the wall time of the whole command.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def config_yaml(args, model):
    """The nequip 0.19 config (hydra / OmegaConf YAML) of this run."""
    symbols = json.dumps(model["symbols"])
    t = "true" if model.get("trainable_bessel", True) else "false"
    return f"""run: [train]
chemical_symbols: {symbols}
data:
  _target_: nequip.data.datamodule.ASEDataModule
  seed: 456
  train_file_path: {args.train}
  val_file_path: {args.val}
  transforms:
    - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
      model_type_names: ${{chemical_symbols}}
      chemical_species_to_atom_type_map: ${{list_to_identity_dict:${{chemical_symbols}}}}
    - _target_: nequip.data.transforms.NeighborListTransform
      r_max: {model['r_max']}
  train_dataloader:
    _target_: torch.utils.data.DataLoader
    batch_size: {args.batch_size}
    num_workers: 0
    shuffle: true
  val_dataloader:
    _target_: torch.utils.data.DataLoader
    batch_size: 10
    num_workers: 0
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    dataloader_kwargs:
      batch_size: 10
    type_names: ${{chemical_symbols}}
trainer:
  _target_: lightning.Trainer
  accelerator: cpu
  devices: 1
  max_epochs: {args.epochs}
  check_val_every_n_epoch: 1
  num_sanity_val_steps: 0
  enable_checkpointing: false
  enable_progress_bar: false
  enable_model_summary: false
  logger: false
  callbacks:
    - _target_: nequip_epoch_timer.EpochTimer
training_module:
  _target_: nequip.train.EMALightningModule
  ema_decay: 0.99
  loss:
    _target_: nequip.train.EnergyForceLoss
    per_atom_energy: true
    coeffs:
      total_energy: 1.0
      forces: 1.0
  val_metrics:
    _target_: nequip.train.EnergyForceMetrics
    coeffs:
      total_energy_mae: 1.0
      forces_mae: 1.0
  optimizer:
    _target_: torch.optim.Adam
    lr: {args.lr}
    amsgrad: true
  model:
    _target_: nequip.model.NequIPGNNModel
    seed: 123
    model_dtype: float32
    type_names: ${{chemical_symbols}}
    r_max: {model['r_max']}
    num_bessels: {model['num_basis']}
    bessel_trainable: {t}
    polynomial_cutoff_p: {model.get('cutoff_p', 6)}
    num_layers: {model['num_layers']}
    l_max: {model['l_max']}
    parity: {'true' if model['parity'] else 'false'}
    num_features: {model['num_features']}
    radial_mlp_depth: {model['radial_mlp_layers']}
    radial_mlp_width: {model['radial_mlp_neurons']}
    avg_num_neighbors: ${{training_data_stats:num_neighbors_mean}}
    per_type_energy_scales: ${{training_data_stats:forces_rms}}
    per_type_energy_shifts: ${{training_data_stats:per_atom_energy_mean}}
    per_type_energy_scales_trainable: false
    per_type_energy_shifts_trainable: false
global_options:
  allow_tf32: false
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--model", required=True, help="JSON file: our config's model section + 'symbols'")
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    with open(args.model, encoding="utf-8") as fh:
        model = json.load(fh)
    os.makedirs(args.workdir, exist_ok=True)
    with open(os.path.join(args.workdir, "bench.yaml"), "w", encoding="utf-8") as fh:
        fh.write(config_yaml(args, model))
    times = os.path.join(args.workdir, "epoch_times.json")
    env = dict(os.environ, NEQUIP_EPOCH_TIMES=times, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    exe = os.path.join(os.path.dirname(sys.executable), "nequip-train")
    cmd = [exe, "-cp", os.path.abspath(args.workdir), "-cn", "bench", f"hydra.run.dir={args.workdir}/run"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=args.workdir, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0 or not os.path.exists(times):
        sys.stderr.write(res.stdout[-2000:] + res.stderr[-4000:])
        raise SystemExit(f"nequip-train failed (exit {res.returncode})")
    with open(times, encoding="utf-8") as fh:
        epochs = json.load(fh)
    import nequip
    import torch

    print(json.dumps({"epochs": epochs, "command_wall_s": wall,
                      "version": f"nequip {nequip.__version__}, torch {torch.__version__}"}))


if __name__ == "__main__":
    main()
