"""Stop signals: SIGTERM, SIGINT and SIGUSR1 end a run with a checkpoint, not a loss.

SLURM and Kubernetes send SIGTERM some time before they kill a job (SLURM
sends SIGUSR1 instead where `sbatch --signal=USR1@SECONDS` asks for it), and
Ctrl-C sends SIGINT. While the training loop runs, a stop signal is only
noted: the step in progress finishes, the ranks agree on the step to stop at
(under torchrun the signal may reach them at different steps, or only some of
them), rank 0 writes a checkpoint and the command exits with EXIT_STOPPED, on
which a job script can requeue the job. Anywhere else in a command (set-up,
the recipe's positions and swap stages, the analysis) it stops the command at
once: nothing there can be resumed half-way, and the rerun redoes that part.

Once a stop is under way, further signals are ignored: torchrun passes a
signal on to its workers, which often got the same signal already, and the
checkpoint must not be cut short. SIGKILL stops a run at once, as it always
does, losing the steps since the last checkpoint.
"""

from __future__ import annotations

import os
import signal
import threading

import torch
import torch.distributed as dist

from stdann.errors import EXIT_STOPPED, Stopped

__all__ = ["EXIT_STOPPED", "STOPPED_MARKER", "STOP_SIGNALS", "StopSignals", "Stopped", "agree"]

#: Left in the --out folder of a command that a stop signal ended (by rank 0
#: under torchrun, which exits 1 whatever its workers exit with) and removed
#: when the command runs again: a job script can requeue on it as on EXIT_STOPPED.
STOPPED_MARKER = "stopped.json"

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


def _say(text: str) -> None:
    """One line on stderr, safe inside a signal handler (no buffered stream to re-enter)."""
    os.write(2, f"\nstdann: {text}\n".encode())


class StopSignals:
    """The stop signals' handlers while active: `deferred` ones note the signal
    for a training loop to act on, the others raise Stopped at once."""

    def __init__(self, *, deferred: bool) -> None:
        self.deferred = deferred
        #: The first stop signal's number; 0 until one comes.
        self.received = 0
        self._previous: dict[int, object] = {}

    def install(self) -> StopSignals:
        """Put the handlers in place (Python lets only the main thread do so)."""
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers that were there before."""
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    def pass_on(self, agreed: int = 0) -> None:
        """Give the stop signal (this rank's, or the one the ranks agreed on) to the
        handler from before, once these handlers are restored."""
        if agreed or self.received:
            signal.raise_signal(agreed or self.received)

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def _handle(self, signum: int, frame: object) -> None:
        """Note the first stop signal (or stop at once); ignore the ones after it."""
        name = signal.Signals(signum).name
        if self.received:
            _say(f"{name} again: already stopping (SIGKILL stops at once, without a checkpoint)")
            return
        self.received = signum
        if not self.deferred:
            raise Stopped(signum)
        _say(f"{name}: stopping after this step, with a checkpoint")


def agree(signum: int, checkpoint_due: bool, device: torch.device) -> tuple[int, bool]:
    """(stop signal, checkpoint due) as every rank acts on them: the largest over the ranks."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return signum, checkpoint_due
    flags = torch.tensor([signum, int(checkpoint_due)], device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    agreed, due = flags.tolist()
    return int(agreed), bool(due)
