"""stdann: spatiotemporal topographic deep networks trained on natural videos."""

from stdann import _native

__version__ = _native.__version__

__all__ = ["__version__"]
