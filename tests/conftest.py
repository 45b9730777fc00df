from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from videos import make_corpus


@pytest.fixture(scope="session")
def generated_videos(tmp_path_factory) -> dict[str, Path]:
    return make_corpus(tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="session")
def real_videos() -> list[Path]:
    from stdann.data import sample_videos

    return sample_videos()


@pytest.fixture(autouse=True)
def _private_index_cache(tmp_path_factory, monkeypatch):
    """Keep the tests' frame indexes out of the user's cache."""
    monkeypatch.setenv("STDANN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
