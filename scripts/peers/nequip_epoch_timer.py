"""A Lightning callback that writes the wall time of every training epoch and its validation to a JSON file.

Used by ``nequip019.py`` (``trainer.callbacks`` of the generated nequip config); the file is the path in the
environment variable ``NEQUIP_EPOCH_TIMES``. In Lightning 2 the validation of an epoch runs inside the training
epoch (before ``on_train_epoch_end``), so the training part is the epoch minus its validation.
"""
import json
import os
import time

from lightning.pytorch.callbacks import Callback


class EpochTimer(Callback):
    """Per epoch: ``epoch_s`` (training + validation), ``val_s`` and ``train_s`` (the difference), ``steps``."""

    def __init__(self):
        super().__init__()
        self.epochs, self._t0, self._v0, self._val, self._steps = [], None, None, 0.0, 0

    def on_train_epoch_start(self, trainer, pl_module):
        self._t0, self._val, self._steps = time.perf_counter(), 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._steps += 1

    def on_validation_epoch_start(self, trainer, pl_module):
        self._v0 = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module):
        if self._v0 is not None:
            self._val += time.perf_counter() - self._v0
            self._v0 = None

    def on_train_epoch_end(self, trainer, pl_module):
        total = time.perf_counter() - self._t0
        self.epochs.append({"epoch_s": total, "val_s": self._val, "train_s": total - self._val, "steps": self._steps})
        with open(os.environ["NEQUIP_EPOCH_TIMES"], "w", encoding="utf-8") as fh:
            json.dump(self.epochs, fh)
