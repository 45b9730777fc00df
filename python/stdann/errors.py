"""The one base of stdann's errors, and the exit status each gives a command.

Every error a user can act on is a `StdannError`: a bad config, video, list,
positions file or checkpoint, a run whose loss diverged, a file that could
not be written. `stdann.cli.main` reports one on a single line, `stdann
COMMAND: TYPE: message`, and exits with `exit_status(err)`; any other
exception is a bug and keeps its traceback. The native module's errors
(VideoError, SwapError, MapError) are StdannErrors too, which is why the
class is declared there, at the bottom of the package, and re-exported here.

Exit status: 0 done; 1 (`EXIT_FAILED`) a run that failed, not its input (a
diverged loss, a file that could not be written); 2 (`EXIT_BAD_INPUT`) bad
input, the default; 75 a run a stop signal ended with a checkpoint
(`EXIT_STOPPED`).

`run_command` is that handler, shared by `stdann` and `python -m
stdann.train`.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from stdann._native import StdannError

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
#: The exit status of a command that a stop signal ended. sysexits.h's
#: EX_TEMPFAIL ("a temporary failure; the user is invited to retry"): apart
#: from 0 (done), 1 (a diverged run, a failed write), 2 (bad input) and
#: 128 + N (killed by signal N, without a checkpoint), so a job script can
#: requeue on it alone.
EXIT_STOPPED = 75

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_STOPPED",
    "StdannError",
    "Stopped",
    "exit_status",
    "run_command",
]


def exit_status(err: StdannError) -> int:
    """The exit status of a command that `err` ended: its class's `exit_status`,
    EXIT_BAD_INPUT where the class does not set one."""
    return int(getattr(err, "exit_status", EXIT_BAD_INPUT))


class Stopped(BaseException):
    """A stop signal ended the command; `checkpoint` is where training stopped, if it had begun.

    A BaseException, as KeyboardInterrupt is, so that no `except Exception`
    takes it for an error of the code it interrupts.
    """

    def __init__(self, signum: int, step: int | None = None, checkpoint: Path | None = None):
        super().__init__(signum, step, checkpoint)
        self.signum, self.step, self.checkpoint = signum, step, checkpoint

    def __str__(self) -> str:
        name = signal.Signals(self.signum).name
        if self.checkpoint is None:
            return f"{name}: stopped; run the same command again to go on"
        return (
            f"{name}: stopped after step {self.step} with checkpoint '{self.checkpoint}'; "
            "run the same command again to resume from it"
        )


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed command (`args.run(args)`) and give its exit status,
    reporting a stop or a StdannError on one line of stderr; anything else
    is a bug and propagates with its traceback."""
    try:
        return int(args.run(args) or 0)
    except Stopped as stop:
        print(f"stdann {args.command}: {stop}", file=sys.stderr)
        return EXIT_STOPPED
    except StdannError as err:
        print(f"stdann {args.command}: {type(err).__name__}: {err}", file=sys.stderr)
        return exit_status(err)
