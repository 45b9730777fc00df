"""A dataset's official split or annotation file as a list of videos (`data.list`).

`read_video_list(root, list_path, subset)` reads `list_path` (relative to the
video folder `root`, or absolute), tells its format from its name and content,
and returns the listed videos that exist, in list order, with their labels
where the format has them. Listed videos that are missing or unreadable are
counted and named, never dropped silently; a list none of whose videos exists
is a `VideoListError` naming the file. The formats and the layouts assumed:

UCF101 (`ucf101`): `ucfTrainTestlist/trainlist01.txt`, lines
    `ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1` (the path relative to the
    video root, then the 1-based class index), and `testlist01.txt`, lines with
    the path alone. Told by the name `trainlistNN.txt` / `testlistNN.txt` or
    by every line naming `CLASS/v_CLASS_gNN_cNN.EXT`. Videos at `ROOT/PATH`, or
    flat at `ROOT/v_...avi`. Classes: `classInd.txt` beside the list (lines
    `1 ApplyEyeMakeup`) when it is there, a line's index naming its class and a
    line without one taking its folder's; otherwise the folder names of the
    listed videos, sorted ignoring case as `classInd.txt` sorts them.
HMDB51 (`hmdb51`): `testTrainMulti_7030_splits/brush_hair_test_split1.txt`,
    one file per class (the class is the name before `_test_split`), lines
    `VIDEO.avi 1` with 1 = train, 2 = test, 0 = in neither. Told by the name
    `CLASS_test_splitN.txt`. `list_path` names one such file, a glob
    (`testTrainMulti_7030_splits/*_test_split1.txt`: every class of split 1)
    or a folder holding the files of one split; `subset` ("train" or "test")
    says which videos to take, and is required. Videos at `ROOT/CLASS/VIDEO`,
    or flat at `ROOT/VIDEO`. Classes: the classes of the files read, sorted.
Kinetics-400/600/700 (`kinetics`): the CSV annotations, header
    `label,youtube_id,time_start,time_end,split` (Kinetics-700-2020 adds
    `is_cc`; a test CSV may have no `label`). Told by the `.csv` suffix or a
    `youtube_id` column. A row's video is `YOUTUBEID_{time_start:06d}_{time_end:06d}`,
    looked for at `ROOT/SPLIT/LABEL/`, `ROOT/LABEL/`, `ROOT/SPLIT/` and `ROOT/`
    (LABEL as written, then with `_` for spaces; SPLIT the row's `split`).
    Classes: the labels of the rows, sorted.
Something-Something v2 (`ssv2`): `something-something-v2-train.json`, a list of
    `{"id": "78687", "label": ..., "template": "Holding [something] next to
    [something]", "placeholders": [...]}`; the test JSON has ids alone. Told by
    the `.json` suffix or content that is a JSON list. Videos at `ROOT/ID.webm`.
    A video's class is its template without the brackets, as the official
    `something-something-v2-labels.json` names them; that file, beside the list,
    gives the classes and their order, else the classes met, sorted.
A plain list (`paths`): one path relative to `ROOT` per line; blank lines and
    lines starting with `#` are ignored; no labels.

A listed video is found under its own name or, where that is absent, under
the same name with another video suffix (`.mp4` first: `stdann prepare`
writes `.mp4`), so a list written for a dataset also reads its prepared copy.
Found means a non-empty regular file with read permission (it is
not decoded here; the loader skips and names what will not decode).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stdann.data.folders import VIDEO_SUFFIXES
from stdann.errors import StdannError

#: Format identifiers and the words the log line uses for them.
FORMATS = {
    "ucf101": "UCF101 split list",
    "hmdb51": "HMDB51 split files",
    "kinetics": "Kinetics CSV",
    "ssv2": "Something-Something v2 JSON",
    "paths": "plain list",
}

#: The subsets `subset` may name (HMDB51's split marks).
SUBSETS = {"train": "1", "test": "2"}

#: How many missing names the summary line shows.
SHOWN = 5

_HMDB_NAME = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d+)\.txt$")
_UCF_NAME = re.compile(r"^(train|test)list\d+\.txt$", re.IGNORECASE)
# UCF101's file names repeat their folder's class, in another case for some
# (HandstandPushups/v_HandStandPushups_g01_c01.avi): hence IGNORECASE.
_UCF_LINE = re.compile(r"^([^/\s]+)/v_\1_g\d+_c\d+\.\w+(?:\s+\d+)?$", re.IGNORECASE)
_PATH_AND_NUMBER = re.compile(r"^(?P<path>\S+)(?:\s+(?P<number>-?\d+))?$")
_GLOB = re.compile(r"[*?\[]")


class VideoListError(StdannError, ValueError):
    """A list file that cannot be used: unknown format, bad line, or no video found."""


@dataclass(frozen=True)
class VideoList:
    """The videos of a list file that exist, and what became of the rest."""

    #: The list file (or glob) as read: data.root joined with data.list.
    source: str
    #: A key of FORMATS.
    format: str
    #: The existing, readable videos, in list order, each once.
    videos: tuple[Path, ...]
    #: Each video's index into `classes`; None where the list has no labels.
    labels: tuple[int, ...] | None
    #: Class names (empty where the list has no labels).
    classes: tuple[str, ...]
    #: Entries the list names (in the chosen subset).
    listed: int
    #: Entries found nowhere, as the report names them.
    missing: tuple[str, ...]
    #: Entries found, but empty, not a regular file, or not readable.
    unreadable: tuple[str, ...]
    #: Entries naming a video already listed (kept once).
    duplicates: int

    def summary(self) -> str:
        """The one line the training log gives the list."""
        line = (
            f"data.list '{self.source}' ({FORMATS[self.format]}): {self.listed} listed, "
            f"{len(self.videos)} found, {len(self.missing)} missing, "
            f"{len(self.unreadable)} unreadable"
        )
        if self.duplicates:
            line += f", {self.duplicates} duplicates kept once"
        bad = [*self.missing, *(f"{name} (unreadable)" for name in self.unreadable)]
        if bad:
            first = f"first {SHOWN}: " if len(bad) > SHOWN else ""
            line += f" ({first}{', '.join(bad[:SHOWN])})"
        return line


@dataclass(frozen=True)
class _Entry:
    name: str  # as the report names it
    places: tuple[str, ...]  # relative paths to look at, in order
    label: str | None  # class name


def read_video_list(
    root: str | os.PathLike[str], list_path: str | os.PathLike[str], subset: str | None = None
) -> VideoList:
    """The videos that `list_path` (relative to the folder `root`) names; see the module
    docstring for the formats. `subset` ("train" or "test") picks HMDB51's videos."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise VideoListError(f"data.root '{root}': no such folder (data.list is read inside it)")
    if subset is not None and subset not in SUBSETS:
        raise VideoListError(f"subset must be train or test, got {subset!r}")
    source = root / Path(list_path).expanduser()
    files = _list_files(root, Path(list_path).expanduser(), source)
    if len(files) == 1:
        fmt, entries, classes = _parse(files[0], subset)
    else:
        fmt, entries, classes = _parse_hmdb_files(source, files, subset)
    if not entries:
        which = f" in subset {subset}" if subset else ""
        raise VideoListError(f"'{source}' lists no videos{which}: name a list that has some")
    return _resolve(root, str(source), fmt, entries, classes)


# ---- the list files -------------------------------------------------------


def _list_files(root: Path, list_path: Path, source: Path) -> list[Path]:
    """The file `source` (root / list_path) names; the files of a glob or a folder
    (HMDB51's split files)."""
    if source.is_file():
        return [source]
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if _HMDB_NAME.match(p.name) and p.is_file())
        if not files:
            raise VideoListError(
                f"'{source}' is a folder without HMDB51 split files (CLASS_test_splitN.txt): "
                "name a list file, or HMDB51's files with a glob"
            )
        return files
    if _GLOB.search(str(list_path)):
        # Only data.list is a pattern: data.root may hold [ or * as it is.
        pattern = os.path.join(glob.escape(str(root)), str(list_path))
        files = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
        if not files:
            raise VideoListError(f"'{source}': the glob matches no file")
        return files
    if source.exists():
        raise VideoListError(f"'{source}' is not a regular file: name a list file")
    raise VideoListError(f"'{source}': no such file (data.list is relative to data.root)")


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise VideoListError(f"cannot read '{path}': {err.strerror}") from None
    try:
        # utf-8-sig: lists saved by Windows editors begin with a byte-order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise VideoListError(
            f"'{path}' is not a text file (UTF-8): cannot tell its format; name a UCF101 or "
            "HMDB51 split list, a Kinetics CSV, a Something-Something v2 JSON or a plain list"
        ) from None


def _lines(text: str) -> list[tuple[int, str]]:
    """(line number, stripped line) of the lines that are neither blank nor comments."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append((number, line))
    return out


def _parse(path: Path, subset: str | None) -> tuple[str, list[_Entry], list[str] | None]:
    """(format, entries, classes) of one list file, its format told by name and content."""
    if _HMDB_NAME.match(path.name):
        return _parse_hmdb_files(path, [path], subset)
    if subset is not None:
        raise VideoListError(
            f"data.list_subset ({subset}) picks videos of HMDB51's split files only; "
            f"'{path}' is no such file: leave data.list_subset null"
        )
    text = _read_text(path)
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            if path.suffix.lower() == ".json":
                raise VideoListError(f"'{path}' is not valid JSON: {err}") from None
        else:
            return "ssv2", *_parse_ssv2(path, data)
    header = [c.strip() for c in stripped.split("\n", 1)[0].split(",")]
    if path.suffix.lower() == ".csv" or "youtube_id" in header:
        return "kinetics", *_parse_kinetics(path, text)
    lines = _lines(text)
    if _UCF_NAME.match(path.name) or (lines and all(_UCF_LINE.match(x) for _, x in lines)):
        return "ucf101", *_parse_ucf(path, lines)
    suffixes = tuple(s.lower() for s in VIDEO_SUFFIXES)
    labelled = [x for _, x in lines if (m := _PATH_AND_NUMBER.match(x)) and m["number"]]
    if (
        lines
        and len(labelled) == len(lines)
        and all(x.split()[0].lower().endswith(suffixes) for x in labelled)
    ):
        # "clip.mp4 3" lines: a labelled list of a kind stdann does not read.
        # Taken as paths, every one would be missing.
        raise VideoListError(
            f"'{path}': cannot tell its format: its lines are PATH NUMBER, but not UCF101's "
            "(CLASS/v_CLASS_gNN_cNN.avi, or a file named trainlistNN.txt) nor HMDB51's (a file "
            "named CLASS_test_splitN.txt); write one path per line for a plain list"
        )
    return "paths", [_Entry(x, (x,), None) for _, x in lines], None


def _parse_ucf(path: Path, lines: list[tuple[int, str]]) -> tuple[list[_Entry], list[str] | None]:
    index_file = path.parent / "classInd.txt"
    official = _read_class_index(index_file) if index_file.is_file() else None
    by_name = {c.lower(): c for c in official or []}
    entries = []
    for number, line in lines:
        m = _PATH_AND_NUMBER.match(line)
        if m is None or "/" not in m["path"]:
            raise VideoListError(
                f"'{path}', line {number}: expected CLASS/VIDEO.avi and an optional class index "
                f"(UCF101's split list), got {line!r}"
            )
        rel = m["path"]
        folder = rel.split("/", 1)[0]
        if official is None:
            label = folder
        elif m["number"]:
            index = int(m["number"])
            if not 1 <= index <= len(official):
                raise VideoListError(
                    f"'{path}', line {number}: class index {index} is not in '{index_file}' "
                    f"(1 to {len(official)})"
                )
            label = official[index - 1]
        elif folder.lower() in by_name:
            label = by_name[folder.lower()]
        else:
            raise VideoListError(
                f"'{path}', line {number}: class {folder!r} is not in '{index_file}'"
            )
        entries.append(_Entry(rel, (rel, PurePosixPath(rel).name), label))
    if official is None:
        # The order classInd.txt has: alphabetical, ignoring case (JumpingJack, JumpRope).
        return entries, sorted({e.label for e in entries if e.label}, key=str.lower)
    return entries, official


def _read_class_index(path: Path) -> list[str]:
    """UCF101's classInd.txt ("1 ApplyEyeMakeup" lines) as names in index order."""
    names: dict[int, str] = {}
    for number, line in _lines(_read_text(path)):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise VideoListError(f"'{path}', line {number}: expected INDEX CLASS, got {line!r}")
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise VideoListError(f"'{path}': class indexes are not 1 to {len(names)}")
    return [names[i] for i in range(1, len(names) + 1)]


def _parse_hmdb_files(
    source: Path, files: list[Path], subset: str | None
) -> tuple[str, list[_Entry], list[str]]:
    names = [(p, _HMDB_NAME.match(p.name)) for p in files]
    for p, m in names:
        if m is None:
            raise VideoListError(
                f"'{source}': a glob of list files is for HMDB51's split files "
                f"(CLASS_test_splitN.txt); '{p}' is not one: name a single list file"
            )
    splits = sorted({m["split"] for _, m in names if m})
    if len(splits) > 1:
        raise VideoListError(
            f"'{source}' holds HMDB51 split files of splits {', '.join(splits)}: name one split, "
            "e.g. with a glob such as testTrainMulti_7030_splits/*_test_split1.txt"
        )
    if subset is None:
        raise VideoListError(
            f"'{source}': HMDB51 split files mark each video train (1) or test (2): set "
            "data.list_subset to train or test"
        )
    mark = SUBSETS[subset]
    entries = []
    classes = set()
    for path, m in names:
        assert m is not None  # checked above
        cls = m["cls"]
        classes.add(cls)
        for number, line in _lines(_read_text(path)):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2") or "/" in parts[0]:
                raise VideoListError(
                    f"'{path}', line {number}: expected VIDEO.avi and 0, 1 or 2 (HMDB51's "
                    f"split file), got {line!r}"
                )
            if parts[1] == mark:
                entries.append(_Entry(f"{cls}/{parts[0]}", (f"{cls}/{parts[0]}", parts[0]), cls))
    return "hmdb51", entries, sorted(classes)


def _parse_kinetics(path: Path, text: str) -> tuple[list[_Entry], list[str] | None]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    needed = ("youtube_id", "time_start", "time_end")
    if not all(c in columns for c in needed):
        raise VideoListError(
            f"'{path}': a CSV without Kinetics' columns (label,youtube_id,time_start,time_end,"
            f"split; it has {','.join(columns) or 'none'}): cannot tell its format"
        )
    has_labels = "label" in columns
    entries = []
    for row in reader:
        number = reader.line_num
        if None in row or any(row.get(c) is None for c in needed):
            raise VideoListError(f"'{path}', line {number}: not one value per column")
        try:
            start, end = (int(float(row[c])) for c in ("time_start", "time_end"))
        except ValueError:
            raise VideoListError(
                f"'{path}', line {number}: time_start and time_end must be numbers, got "
                f"{row['time_start']!r}, {row['time_end']!r}"
            ) from None
        stem = f"{row['youtube_id'].strip()}_{start:06d}_{end:06d}"
        label = (row.get("label") or "").strip() or None
        if has_labels and label is None:
            raise VideoListError(f"'{path}', line {number}: the label is empty")
        split = (row.get("split") or "").strip()
        folders = [label, label.replace(" ", "_")] if label else []
        places = [f"{split}/{f}/{stem}" for f in folders] if split else []
        places += [f"{f}/{stem}" for f in folders]
        places += [f"{split}/{stem}"] if split else []
        places.append(stem)
        entries.append(_Entry(stem, tuple(dict.fromkeys(places)), label))
    classes = sorted({e.label for e in entries if e.label}) if has_labels else None
    return entries, classes


def _parse_ssv2(path: Path, data: object) -> tuple[list[_Entry], list[str] | None]:
    if not isinstance(data, list) or not all(isinstance(x, dict) and "id" in x for x in data):
        raise VideoListError(
            f"'{path}': JSON, but not Something-Something v2's (a list of objects with an "
            '"id"): cannot tell its format'
        )
    templated = sum("template" in x for x in data)
    if templated not in (0, len(data)):
        raise VideoListError(
            f"'{path}': {templated} of {len(data)} entries have a template (a label): all or none"
        )
    entries = []
    for item in data:
        vid = str(item["id"]).strip()
        label = None
        if templated:
            label = str(item["template"]).replace("[", "").replace("]", "")
        entries.append(_Entry(vid, (vid,), label))
    if not templated:
        return entries, None
    labels_file = path.parent / "something-something-v2-labels.json"
    if not labels_file.is_file():
        return entries, sorted({e.label for e in entries if e.label})
    try:
        official = json.loads(_read_text(labels_file))
        order = sorted(official, key=lambda name: int(official[name]))
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
        raise VideoListError(
            f"'{labels_file}': expected a JSON object of class name to index"
        ) from None
    unknown = sorted({e.label for e in entries if e.label not in official})
    if unknown:
        raise VideoListError(f"'{path}': class {unknown[0]!r} is not in '{labels_file}'")
    return entries, order


# ---- the videos -----------------------------------------------------------


class _Finder:
    """Finds relative paths under a root, each folder listed once (a list of
    Kinetics names ~650,000 files in one folder: one listing, not a stat each)."""

    def __init__(self, root: Path):
        self.root = root
        self._folders: dict[str, tuple[set[str], dict[str, list[str]]]] = {}

    def _listing(self, folder: str) -> tuple[set[str], dict[str, list[str]]]:
        if folder not in self._folders:
            try:
                names = set(os.listdir(self.root / folder))
            except OSError:
                names = set()
            stems: dict[str, list[str]] = {}
            for name in names:
                stem, suffix = os.path.splitext(name)
                if suffix.lower() in VIDEO_SUFFIXES:
                    stems.setdefault(stem, []).append(name)
            for found in stems.values():
                found.sort(key=lambda n: VIDEO_SUFFIXES.index(os.path.splitext(n)[1].lower()))
            self._folders[folder] = (names, stems)
        return self._folders[folder]

    def find(self, rel: str) -> Path | None:
        """`root/rel`, or the same name with another video suffix; None when neither is there."""
        rel_path = PurePosixPath(rel)
        folder = str(rel_path.parent)
        names, stems = self._listing(folder)
        if rel_path.name in names:
            return self.root / rel_path
        stem, suffix = os.path.splitext(rel_path.name)
        key = stem if suffix.lower() in VIDEO_SUFFIXES else rel_path.name
        if key in stems:
            return self.root / folder / stems[key][0]
        return None


def _readable(path: Path) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size > 0 and os.access(path, os.R_OK)


def _resolve(
    root: Path, source: str, fmt: str, entries: list[_Entry], classes: list[str] | None
) -> VideoList:
    finder = _Finder(root)
    index = {c: i for i, c in enumerate(classes or [])}
    videos: list[Path] = []
    labels: list[int] = []
    seen: set[Path] = set()
    missing, unreadable, duplicates = [], [], 0
    for entry in entries:
        path = next((p for p in map(finder.find, entry.places) if p is not None), None)
        if path is None:
            missing.append(entry.name)
        elif not _readable(path):
            unreadable.append(entry.name)
        elif path in seen:
            duplicates += 1
        else:
            seen.add(path)
            videos.append(path)
            if classes is not None:
                labels.append(index[entry.label])
    if not videos:
        shown = ", ".join([*missing, *unreadable][:SHOWN])
        raise VideoListError(
            f"'{source}' ({FORMATS[fmt]}) lists {len(entries)} videos and none of them is a "
            f"readable file under '{root}' (e.g. {shown}): check data.root, or the list"
        )
    return VideoList(
        source=source,
        format=fmt,
        videos=tuple(videos),
        labels=tuple(labels) if classes is not None else None,
        classes=tuple(classes or ()),
        listed=len(entries),
        missing=tuple(missing),
        unreadable=tuple(unreadable),
        duplicates=duplicates,
    )


def labelled_lists(root: str, train_list: str, test_list: str) -> tuple[VideoList, VideoList]:
    """The two labelled VideoLists a probe reads (`train.probe_train_list` and
    `probe_test_list`), relative to `root`, a data.root (the built-in
    corpus's folder for "builtin"); VideoListError naming the key where a
    list cannot be read or has no labels."""
    from pathlib import Path

    if root == "builtin":
        from stdann.data.builtin import builtin_corpus_folder

        folder = builtin_corpus_folder()
    else:
        folder = Path(root).expanduser()
    lists = []
    for key, name in (("probe_train_list", train_list), ("probe_test_list", test_list)):
        try:
            listed = read_video_list(folder, name)
        except VideoListError as err:
            raise VideoListError(f"train.{key}: {err}") from None
        if listed.labels is None:
            raise VideoListError(
                f"train.{key} '{listed.source}' has no labels ({listed.format}): name a "
                "labelled list, e.g. a UCF101 trainlist/testlist with classInd.txt"
            )
        lists.append(listed)
    return lists[0], lists[1]
