"""Learning-rate schedules of NequIP training, stepped once per epoch: ``plateau`` (PyTorch's
``ReduceLROnPlateau`` on the validation loss) and ``cosine`` (``CosineAnnealingLR``). Their state goes into every
checkpoint, so a resumed run continues the same schedule.
"""
import math

__all__ = ["ReduceLROnPlateau", "CosineAnnealing", "make_scheduler"]


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` after more than ``patience`` epochs without a relative
    improvement of ``threshold`` of the monitored value (PyTorch's ``ReduceLROnPlateau``, mode ``min``).

    >>> s = ReduceLROnPlateau(1.0, factor=0.5, patience=1)
    >>> [s.step(v) for v in (3.0, 3.0, 3.0, 2.0)]
    [1.0, 1.0, 0.5, 0.5]
    """

    #: the learning rate follows the validation loss: its changes are logged, and a rate below
    #: ``training.early_stopping_min_lr`` means training has converged
    adaptive = True

    def __init__(self, lr, factor=0.5, patience=10, threshold=1e-4, min_lr=0.0):
        self.lr, self.factor, self.patience = float(lr), float(factor), int(patience)
        self.threshold, self.min_lr = float(threshold), float(min_lr)
        self.best, self.num_bad = math.inf, 0

    def step(self, value):
        """Record this epoch's value; returns the (possibly reduced) learning rate."""
        if value < self.best * (1 - self.threshold):
            self.best, self.num_bad = float(value), 0
        else:
            self.num_bad += 1
        if self.num_bad > self.patience:
            self.lr = max(self.lr * self.factor, self.min_lr)
            self.num_bad = 0
        return self.lr

    def state(self):
        """JSON-serialisable state."""
        return {"lr": self.lr, "best": self.best if math.isfinite(self.best) else None, "num_bad": self.num_bad}

    def load(self, state):
        """Restore :meth:`state`."""
        self.lr = float(state["lr"])
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.num_bad = int(state["num_bad"])


class CosineAnnealing:
    """Cosine decay of the learning rate from ``lr`` to ``min_lr`` over ``num_epochs`` epochs (PyTorch's
    ``CosineAnnealingLR`` with ``T_max = num_epochs``, stepped once per epoch; ``step`` ignores its argument).

    >>> s = CosineAnnealing(1.0, num_epochs=4, min_lr=0.0)
    >>> [round(s.step(None), 3) for _ in range(4)]
    [0.854, 0.5, 0.146, 0.0]
    """

    adaptive = False  #: a fixed schedule: nothing to log, a low rate at the end is planned, not convergence

    def __init__(self, lr, num_epochs, min_lr=0.0):
        self.lr0, self.num_epochs, self.min_lr = float(lr), int(num_epochs), float(min_lr)
        self.epoch = 0
        self.lr = self.lr0

    def step(self, value=None):
        """Advance one epoch; returns the learning rate of the next one."""
        del value
        self.epoch += 1
        frac = min(self.epoch, self.num_epochs) / self.num_epochs
        self.lr = self.min_lr + 0.5 * (self.lr0 - self.min_lr) * (1.0 + math.cos(math.pi * frac))
        return self.lr

    def state(self):
        """JSON-serialisable state."""
        return {"lr": self.lr, "epoch": self.epoch}

    def load(self, state):
        """Restore :meth:`state`."""
        self.lr, self.epoch = float(state["lr"]), int(state["epoch"])


def make_scheduler(t):
    """The learning-rate scheduler named by ``training.lr_scheduler`` (``plateau`` or ``cosine``)."""
    if t["lr_scheduler"] == "cosine":
        return CosineAnnealing(t["learning_rate"], t["max_epochs"], t["min_lr"])
    return ReduceLROnPlateau(t["learning_rate"], t["lr_factor"], t["lr_patience"], t["lr_threshold"], t["min_lr"])
