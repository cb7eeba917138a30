"""SIGINT / SIGTERM during training: finish the current step, save, say how to resume, exit 130 / 143.

:class:`InterruptGuard` records the signal instead of dying; the training loop polls :attr:`InterruptGuard.signal`
after every step and every epoch, writes ``last.ckpt`` (atomically, with the position inside the epoch) and
raises :class:`Interrupted`, which the command turns into the conventional exit status (128 + signal number). A
second signal while saving ends the process at once (the checkpoint on disk stays the previous one: writes are
atomic).

MindSpore 2.10 converts a SIGINT that arrives while it runs a graph into a SIGTERM (its runtime threads install
their own SIGINT handler around graph launches), so Ctrl-C during a step is usually reported as SIGTERM (143); the
guard re-installs its handlers after every step, so a SIGINT between graphs is seen as such (130).

>>> import signal
>>> with InterruptGuard() as guard:
...     signal.raise_signal(signal.SIGTERM)
...     guard.signal
15
"""
import os
import signal
import sys
import threading

__all__ = ["InterruptGuard", "Interrupted", "exit_code"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum):
    """The conventional exit status of a process ended by ``signum`` (128 + its number)."""
    return 128 + int(signum)


class Interrupted(Exception):
    """Training stopped on a signal after saving ``last.ckpt``; ``exit_code`` is 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.signum = int(signum)
        self.exit_code = exit_code(signum)


class InterruptGuard:
    """Context manager catching SIGINT and SIGTERM (main thread only; a no-op elsewhere).

    Attributes:
        signal (int or None): the first signal received.
    """

    def __init__(self):
        self.signal = None
        self._saved = {}
        self._active = False

    def _handle(self, signum, frame):  # pylint: disable=unused-argument
        if self.signal is not None:
            sys.stderr.write(f"\nreceived signal {signum} again: exiting now, without saving\n")
            sys.stderr.flush()
            os._exit(exit_code(self.signal))  # pylint: disable=protected-access
        self.signal = int(signum)
        name = signal.Signals(signum).name
        sys.stderr.write(f"\n{name}: finishing the current step, then saving the run (again to quit at once)\n")
        sys.stderr.flush()

    def install(self):
        """(Re-)install the handlers (MindSpore's runtime may have replaced the SIGINT one)."""
        if not self._active:
            return
        for s in _SIGNALS:
            signal.signal(s, self._handle)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._saved = {s: signal.getsignal(s) for s in _SIGNALS}
            self._active = True
            self.install()
        return self

    def __exit__(self, *exc):
        if self._active:
            for s, h in self._saved.items():
                signal.signal(s, h if h is not None else signal.SIG_DFL)
            self._active = False
        return False
