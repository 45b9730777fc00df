"""stdann: spatiotemporal topographic deep networks trained on natural videos."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stdann import _native

if TYPE_CHECKING:
    from stdann.train.model_folder import load_model

__version__ = _native.__version__

__all__ = ["__version__", "load_model"]


def __getattr__(name: str):
    # `import stdann` stays light (the CLI's --help, the native module alone):
    # torch is imported only when a model is loaded.
    if name == "load_model":
        from stdann.train.model_folder import load_model

        return load_model
    raise AttributeError(f"module 'stdann' has no attribute {name!r}")
