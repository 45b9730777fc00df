"""Errors of the cortical-sheet code; each message says what is wrong and where."""

from __future__ import annotations

from stdann.errors import StdannError


class TopographyError(StdannError):
    """Base class of every cortical-sheet error."""


class PositionsFileError(TopographyError):
    """A positions file cannot be read: missing, corrupt, pickled or of an old format."""


class PositionsMismatchError(TopographyError, ValueError):
    """Positions do not fit the block they are used with (unit count or shape)."""


class ResponsesError(TopographyError, ValueError):
    """Responses cannot be used: wrong shape, not finite, or constant units."""
