"""Atomic file writes: a temporary file in the target's folder, flushed to disk,
renamed over the target, and the folder synced. A reader (or a run killed
mid-write) sees the old file or the new one, never half of one; a rename is
atomic only within one file system, hence the temporary file beside the target.

The temporary file is created with mode 0o666, as `open()` creates a file, so
the umask alone decides who may read the result (mkstemp's private 0o600
would make every run on a shared file system unreadable to its group).

A write that fails (disk full, permission denied, a read-only file system) is
a `WriteError` that names the file, the cause and what to do, and leaves no
temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from stdann.errors import EXIT_FAILED, StdannError

#: What to do about the causes a user can fix, by errno.
_ADVICE = {
    errno.ENOSPC: "free some space on that file system, then run the command again",
    errno.EDQUOT: "free some space or raise the quota, then run the command again",
    errno.EACCES: "make the folder writable for this user, then run the command again",
    errno.EPERM: "make the folder writable for this user, then run the command again",
    errno.EROFS: "the file system is read-only: write to another folder or remount it",
}


class WriteError(StdannError, OSError):
    """A file that could not be written, with the cause (an errno) and what to do."""

    exit_status = EXIT_FAILED  # not bad input: the run failed, its input may be fine

    def __init__(self, path: str | Path, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path = Path(path)
        #: What the run the file belongs to still holds, said last (a training
        #: command names its last good checkpoint).
        self.kept: str | None = None

    def __reduce__(self):
        return (WriteError, (self.path, OSError(self.errno, self.strerror)))

    def __str__(self) -> str:
        code = errno.errorcode.get(self.errno or 0)
        cause = f"{self.strerror} ({code})" if code else str(self.strerror)
        advice = _ADVICE.get(self.errno or 0)
        text = f"cannot write '{self.path}': {cause}" + (f"; {advice}" if advice else "")
        return text + (f"; {self.kept}" if self.kept else "")


class _Watched:
    """The temporary file as the caller's `write` sees it. It keeps the first
    OSError of a write, because torch.save reports a failed write as a
    RuntimeError of its own ("unexpected pos") that no longer says why."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._file.write(data)
        except OSError as err:
            self.error = self.error or err
            raise

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as err:
            self.error = self.error or err
            raise

    def __getattr__(self, name: str):
        return getattr(self._file, name)


def _create_beside(path: Path) -> tuple[Path, BinaryIO]:
    """A new, empty temporary file in `path`'s folder, mode 0o666 less the umask."""
    for _ in range(10):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        return tmp, os.fdopen(fd, "wb")
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call write(file) on a temporary file beside `path`, then put it in place."""
    path = Path(path)
    tmp: Path | None = None
    raw: BinaryIO | None = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp, raw = _create_beside(path)
        except OSError as err:
            raise WriteError(path, err) from err
        file = _Watched(raw)
        try:
            write(file)  # type: ignore[arg-type]
        except Exception as err:
            if file.error is None:
                raise  # the caller's own failure (a source it reads, a bug): not a write error
            raise WriteError(path, file.error) from err
        try:
            raw.flush()
            os.fsync(raw.fileno())
            raw.close()
            os.replace(tmp, path)
            tmp = None
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as err:
            raise WriteError(path, err) from err
    finally:
        # Also on KeyboardInterrupt and the like: no temporary file stays behind.
        # Closing may fail again (a full disk) and removing may fail (a read-only
        # file system); the error that is already on its way is the one to report.
        if raw is not None and not raw.closed:
            with contextlib.suppress(OSError):
                raw.close()
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


class LineLog:
    """A log that grows by whole lines (`metrics.jsonl`): a line whose write fails
    is cut off again, so the file never ends in half a line; the failure is a
    `WriteError`. Opened for appending with the mode `open()` would give."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666
            )
        except OSError as err:
            raise WriteError(self.path, err) from err

    def write_line(self, line: str) -> None:
        """Append `line` and a newline, all of it or nothing."""
        data = memoryview((line + "\n").encode())
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as err:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise WriteError(self.path, err) from err

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
