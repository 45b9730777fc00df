"""The atomic writer: modes that follow the umask, and failures named, with nothing left behind."""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import stat

import numpy as np
import pytest
import torch

import stdann.atomic
from stdann.atomic import LineLog, WriteError, atomic_write, atomic_write_text
from stdann.cli import main as stdann_main
from stdann.config import load_config
from stdann.train import train
from train_fixtures import CONFIGS, MICRO, micro_corpus


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_get_the_mode_open_gives(tmp_path, mask):
    with umask(mask):
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        text = atomic_write_text(tmp_path / "new" / "a.txt", "x")
        array = atomic_write(tmp_path / "b.npy", lambda f: np.save(f, np.zeros(3)))
        log = LineLog(tmp_path / "metrics.jsonl")
        log.write_line("{}")
        log.close()
    assert mode(plain) == 0o666 & ~mask
    for path in (text, array, tmp_path / "metrics.jsonl"):
        assert mode(path) == mode(plain), path
    assert mode(tmp_path / "new") == 0o777 & ~mask
    # A file written again gets the umask's mode, not the one it had: a run
    # written by an older stdann (0o600 throughout) becomes readable again.
    os.chmod(text, 0o600)
    with umask(mask):
        atomic_write_text(text, "y")
    assert mode(text) == 0o666 & ~mask and text.read_text() == "y"


def test_a_run_folder_and_an_export_follow_the_umask(tmp_path):
    corpus = micro_corpus(tmp_path / "videos", count=8)
    with umask(0o002):
        config = load_config(
            CONFIGS / "tiny.yaml", [*MICRO, f"data.root={corpus}", "train.steps=2"]
        )
        train(config, tmp_path / "run", progress=False)
        out = tmp_path / "model.safetensors"
        assert stdann_main(["export", str(tmp_path / "run"), "--out", str(out)]) == 0
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.yaml", "finished.json", "metrics.jsonl"}
    assert any(p.suffix == ".pt" for p in files) and any(p.suffix == ".npz" for p in files)
    for path in [*files, out]:
        assert mode(path) == 0o664, path
    for folder in (tmp_path / "run", tmp_path / "run" / "checkpoints"):
        assert mode(folder) == 0o775, folder


def test_a_write_error_names_the_file_the_cause_and_what_to_do(tmp_path):
    err = WriteError(tmp_path / "x.pt", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert str(err) == (
        f"cannot write '{tmp_path / 'x.pt'}': No space left on device (ENOSPC); "
        "free some space on that file system, then run the command again"
    )
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.path == err.path
    odd = WriteError(tmp_path / "y", OSError(errno.EIO, os.strerror(errno.EIO)))
    assert str(odd) == f"cannot write '{tmp_path / 'y'}': Input/output error (EIO)"


def test_torch_save_on_a_full_disk_is_a_write_error_and_leaves_nothing(tmp_path, monkeypatch):
    """torch.save reports a failed write as "unexpected pos"; the writer still says ENOSPC."""
    real = stdann.atomic._create_beside

    def to_dev_full(path):
        tmp, f = real(path)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, f.fileno())
        os.close(full)
        return tmp, f

    (tmp_path / "step.pt").write_bytes(b"the previous one")
    monkeypatch.setattr(stdann.atomic, "_create_beside", to_dev_full)
    with pytest.raises(WriteError) as failed:
        atomic_write(tmp_path / "step.pt", lambda f: torch.save({"w": torch.zeros(1 << 16)}, f))
    assert failed.value.errno == errno.ENOSPC and failed.value.path == tmp_path / "step.pt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step.pt"]
    assert (tmp_path / "step.pt").read_bytes() == b"the previous one"


def test_the_callers_own_failure_is_not_a_write_error(tmp_path):
    missing = tmp_path / "missing.npz"
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "copy.npz", lambda f: f.write(missing.read_bytes()))
    with pytest.raises(ValueError, match="a bug"):
        atomic_write(tmp_path / "x", lambda f: (_ for _ in ()).throw(ValueError("a bug")))
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_made_is_a_write_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(WriteError, match=r"cannot write '.*file/x\.txt'"):
        atomic_write_text(tmp_path / "file" / "x.txt", "x")


def test_a_line_log_never_ends_in_half_a_line(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    log = LineLog(path)
    log.write_line('{"step": 1}')
    real_write = os.write

    def half_then_full(fd, data):
        if fd != log._fd:
            return real_write(fd, data)
        real_write(fd, bytes(data[:5]))
        monkeypatch.setattr(os, "write", failing)
        return 5

    def failing(fd, data):
        if fd != log._fd:
            return real_write(fd, data)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(WriteError, match=r"metrics\.jsonl.*ENOSPC"):
        log.write_line('{"step": 2, "loss": 3.5}')
    monkeypatch.undo()
    assert path.read_text() == '{"step": 1}\n'
    log.write_line('{"step": 2}')
    log.close()
    log.close()
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'
    with pytest.raises(WriteError, match="Is a directory"):
        LineLog(tmp_path)
