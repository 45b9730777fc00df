"""Videos found by their file suffix: every video file under a folder."""

from __future__ import annotations

from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv")


def find_videos(root: Path) -> list[Path]:
    """Video files under `root` (or `root` itself), sorted; FileNotFoundError
    where `root` is neither a file nor a folder."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"'{root}': no such file or directory")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
