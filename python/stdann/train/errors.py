"""Errors of a training run; each message says what is wrong and what is kept."""

from __future__ import annotations

from stdann.errors import EXIT_FAILED, StdannError


class TrainingError(StdannError, RuntimeError):
    """A run that cannot start or go on: bad data, positions or config."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    exit_status = EXIT_FAILED  # the run diverged; its input may be fine
