"""NequIP training, one job per module: :mod:`.loop` (the :class:`Trainer`), :mod:`.data` (datasets of a run),
:mod:`.graphs` (the Cells of a run), :mod:`.metrics` (error sums, MAE / RMSE), :mod:`.schedulers` (learning-rate
schedules), :mod:`.state` (run state, checkpoints, resume), :mod:`.reporting` (log, progress bar, CSV, plots,
model summary) and :mod:`.interrupt` (SIGINT / SIGTERM). The command line is :mod:`applications.nequip.train`.
"""
from .interrupt import Interrupted, InterruptGuard
from .loop import Trainer, TrainingDiverged
from .metrics import MEV, error_sums, summarize
from .reporting import Progress
from .schedulers import CosineAnnealing, ReduceLROnPlateau, make_scheduler

__all__ = ["Trainer", "TrainingDiverged", "Interrupted", "InterruptGuard", "MEV", "error_sums", "summarize",
           "Progress", "CosineAnnealing", "ReduceLROnPlateau", "make_scheduler"]
