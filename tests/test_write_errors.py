"""A full disk, a read-only file system, permission denied: one line, exit 1, nothing half-written.

Where the tests run as root and may mount, the disk is a real 8 MiB tmpfs,
filled up or remounted read-only; elsewhere the atomic writer is made to
fail: its temporary file writes to /dev/full (the kernel's own ENOSPC), or
cannot be created (EROFS, EACCES), as on such a file system.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import stdann.atomic
from stdann.cli import main as stdann_main
from stdann.config import load_config
from stdann.train import train
from stdann.train.checkpoint import (
    last_good_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from train_fixtures import CONFIGS, MICRO, micro_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return micro_corpus(tmp_path_factory.mktemp("micro"))


def micro(corpus, *extra: str):
    return load_config(CONFIGS / "tiny.yaml", [*MICRO, f"data.root={corpus}", *extra])


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


class TmpfsDisk:
    """A real 8 MiB tmpfs: filled with a filler file, or remounted read-only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def fill(self) -> None:
        stats = os.statvfs(self.root)
        # Room for a few metrics lines, not for a checkpoint (1.7 MB).
        size = stats.f_bavail * stats.f_frsize - 256 * 1024
        with open(self.root / "filler", "wb") as f:
            f.write(b"\0" * size)

    def free(self) -> None:
        (self.root / "filler").unlink()

    def fail_to_create(self, code: int) -> None:
        assert code == errno.EROFS, "only a read-only file system is real here"
        assert _mount("-o", "remount,ro", str(self.root))

    def undo(self) -> None:
        assert _mount("-o", "remount,rw", str(self.root))


class FailingWriter:
    """The atomic writer made to fail as on such a file system."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.real = stdann.atomic._create_beside

    def fill(self) -> None:
        """Room left for the small files, none for a checkpoint, as on the filled tmpfs."""

        def to_dev_full(path):
            tmp, f = self.real(path)
            if path.suffix == ".pt":
                full = os.open("/dev/full", os.O_WRONLY)
                os.dup2(full, f.fileno())
                os.close(full)
            return tmp, f

        self.monkeypatch.setattr(stdann.atomic, "_create_beside", to_dev_full)

    def fail_to_create(self, code: int) -> None:
        def refused(path):
            raise OSError(code, os.strerror(code), str(path.parent))

        self.monkeypatch.setattr(stdann.atomic, "_create_beside", refused)

    def undo(self) -> None:
        self.monkeypatch.setattr(stdann.atomic, "_create_beside", self.real)

    free = undo


@pytest.fixture(params=["tmpfs", "failing writer"])
def disk(request, tmp_path, monkeypatch):
    if request.param == "failing writer":
        yield FailingWriter(tmp_path, monkeypatch)
        return
    root = tmp_path / "fs"
    root.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(root)):
        pytest.skip("no tmpfs: not root, or mount is not allowed here")
    try:
        yield TmpfsDisk(root)
    finally:
        _mount("-o", "remount,rw", str(root))
        subprocess.run(["umount", "-l", str(root)], check=True)


def train_args(corpus, out: Path, *extra: str) -> list[str]:
    sets = [*MICRO, f"data.root={corpus}", *extra]
    return [
        "train",
        "--config",
        str(CONFIGS / "tiny.yaml"),
        "--out",
        str(out),
        "--no-progress",
        *[a for s in sets for a in ("--set", s)],
    ]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


def test_a_full_disk_gives_one_line_and_the_rerun_resumes_bit_identically(
    corpus, disk, tmp_path, capsys
):
    straight = train(micro(corpus, "train.steps=4"), tmp_path / "straight", progress=False)
    run = disk.root / "run"
    train(micro(corpus, "train.steps=4"), run, progress=False, stop_at=2)
    disk.fill()
    capsys.readouterr()
    assert stdann_main(train_args(corpus, run, "train.steps=4")) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "enforce fail" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("stdann train:")]
    assert line == (
        f"stdann train: WriteError: cannot write '{run}/checkpoints/step-000000004.pt': "
        "No space left on device (ENOSPC); free some space on that file system, then run the "
        f"command again; the last good checkpoint is '{run}/checkpoints/step-000000002.pt'"
    )
    # Nothing half-written: no temporary file, no partial checkpoint, whole metrics lines.
    assert leftovers(run) == []
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [2]
    for line in (run / "metrics.jsonl").read_text().splitlines():
        assert line.startswith("{") and line.endswith("}")
    disk.free()
    resumed = train(micro(corpus, "train.steps=4"), run, progress=False)
    assert resumed.step == 4
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "step-000000004.pt")["moco"]
    b = load_checkpoint(run / "checkpoints" / "step-000000004.pt")["moco"]
    for part in ("encoder_q", "encoder_k"):
        for k, v in a[part].items():
            assert torch.equal(v, b[part][k]), (part, k)
    assert torch.equal(a["queue"], b["queue"])
    assert straight.step == 4


def refused_write(corpus, disk, code: int, advice: str, capsys) -> None:
    """A resume whose first write (config.yaml) the file system refuses with `code`."""
    run = disk.root / "run"
    train(micro(corpus, "train.steps=4"), run, progress=False, stop_at=2)
    disk.fail_to_create(code)
    capsys.readouterr()
    assert stdann_main(train_args(corpus, run, "train.steps=4")) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("stdann train:")]
    assert line.startswith(f"stdann train: WriteError: cannot write '{run}/config.yaml': ")
    assert f"({errno.errorcode[code]}); {advice}" in line
    assert line.endswith(f"the last good checkpoint is '{run}/checkpoints/step-000000002.pt'")
    disk.undo()
    assert leftovers(run) == []
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [2]


def test_a_read_only_file_system_gives_one_line(corpus, disk, capsys):
    refused_write(corpus, disk, errno.EROFS, "the file system is read-only", capsys)


def test_permission_denied_gives_one_line(corpus, tmp_path, monkeypatch, capsys):
    # A real one needs a user other than root (root may write anywhere): the writer fails here.
    writer = FailingWriter(tmp_path, monkeypatch)
    refused_write(corpus, writer, errno.EACCES, "make the folder writable for this user", capsys)


def test_the_last_good_checkpoint_is_the_failed_files_runs(tmp_path):
    run = tmp_path / "run"
    assert last_good_checkpoint(run / "config.yaml") is None  # no checkpoint yet
    save_checkpoint(run / "checkpoints", 2, {"step": 2}, keep=3)
    save_checkpoint(run / "checkpoints", 4, {"step": 4}, keep=3)
    (run / "checkpoints" / "step-000000006.pt").write_bytes(b"damaged")
    good = run / "checkpoints" / "step-000000004.pt"
    assert last_good_checkpoint(run / "checkpoints" / "step-000000008.pt") == good
    assert last_good_checkpoint(run / "metrics.jsonl") == good
    assert last_good_checkpoint(run / "positions" / "layer1.0.npz") == good
    assert last_good_checkpoint(tmp_path / "analysis" / "figures" / "a.png") is None
