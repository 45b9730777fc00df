"""Naturalistic motion made from a still photograph: camera pans, zooms and
rotations over a scene, and textured objects moving across it.

Every clip is rendered by resampling the photograph (bilinear, so motion is
sub-pixel) and returned as uint8 RGB frames of shape (T, H, W, 3).

Conventions. A direction is the direction in which the image content moves on
the screen, in degrees counterclockwise from rightward (90 = upward), as for a
drifting grating or a random-dot kinematogram. A speed is in pixels per frame
of the output. A zoom factor > 1 magnifies the content (the camera zooms in);
a positive angular speed turns the content counterclockwise on the screen.
Pixel centres lie at integer coordinates; rows grow downward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Frames = npt.NDArray[np.uint8]

DEFAULT_SIZE = (128, 160)  # (height, width)


# ---- motion parameters spread over their ranges ---------------------------------


@dataclass(frozen=True)
class Velocity:
    """A translation of the image content: `speed` px/frame towards `direction` degrees."""

    direction: float
    speed: float

    def image_step(self) -> npt.NDArray[np.float64]:
        """The displacement per frame in image coordinates (x right, y down)."""
        a = np.radians(self.direction)
        return np.array([self.speed * np.cos(a), -self.speed * np.sin(a)])


def _stratified(n: int, lo: float, hi: float, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """`n` values in [lo, hi), one in each of n equal bins, in random order."""
    bins = rng.permutation(n)
    return lo + (hi - lo) * (bins + rng.random(n)) / n


def spread_velocities(
    n: int, *, speed_range: tuple[float, float] = (0.5, 3.0), seed: int = 0
) -> list[Velocity]:
    """`n` velocities whose directions are evenly spaced over the circle (360/n apart,
    from a random start) and whose speeds fall one in each of n equal bins of
    `speed_range`, paired at random, so that speed does not follow direction."""
    if n < 1:
        raise ValueError(f"need at least one velocity, got n={n}")
    lo, hi = speed_range
    if not 0 <= lo <= hi:
        raise ValueError(f"speed_range must satisfy 0 <= low <= high, got {speed_range}")
    rng = np.random.default_rng(seed)
    start = rng.uniform(0.0, 360.0 / n)
    directions = (start + 360.0 * np.arange(n) / n) % 360.0
    speeds = _stratified(n, lo, hi, rng)
    return [Velocity(float(d), float(s)) for d, s in zip(directions, speeds, strict=True)]


def spread_zooms(
    n: int, *, factor_range: tuple[float, float] = (1.25, 2.0), seed: int = 0
) -> list[float]:
    """`n` total zoom factors, alternately in (> 1) and out (< 1), spread evenly in
    log scale over `factor_range` (and its reciprocal for zooming out)."""
    lo, hi = factor_range
    if not 1.0 < lo <= hi:
        raise ValueError(f"factor_range must satisfy 1 < low <= high, got {factor_range}")
    rng = np.random.default_rng(seed)
    logs = _stratified(n, np.log(lo), np.log(hi), rng)
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return [float(np.exp(s * v)) for s, v in zip(signs, logs, strict=True)]


def spread_angular_speeds(
    n: int, *, speed_range: tuple[float, float] = (0.3, 1.5), seed: int = 0
) -> list[float]:
    """`n` angular speeds (degrees/frame), alternately counterclockwise (> 0) and
    clockwise (< 0), with magnitudes one in each of n equal bins of `speed_range`."""
    lo, hi = speed_range
    if not 0 < lo <= hi:
        raise ValueError(f"speed_range must satisfy 0 < low <= high, got {speed_range}")
    rng = np.random.default_rng(seed)
    speeds = _stratified(n, lo, hi, rng)
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return [float(s * v) for s, v in zip(signs, speeds, strict=True)]


# ---- resampling ----------------------------------------------------------------


def _as_float_rgb(photo: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """A photograph as (H, W, 3) float32 in 0..255 (grey is repeated, alpha dropped)."""
    a = np.asarray(photo)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"a photograph must be (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    return np.ascontiguousarray(a[:, :, :3], dtype=np.float32)


def _resize_weights(n_in: int, n_out: int) -> npt.NDArray[np.float32]:
    """(n_out, n_in) weights of an antialiased linear (triangle) resize along one axis:
    the kernel is widened by the downscale factor, as PIL's bilinear filter does."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    taps = np.arange(n_in)
    w = np.maximum(0.0, 1.0 - np.abs(taps[None, :] - centres[:, None]) / support)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def resize_photo(
    image: npt.NDArray[np.float32], height: int, width: int
) -> npt.NDArray[np.float32]:
    """`image` (H, W, C) float resized to (height, width), antialiased."""
    wy = _resize_weights(image.shape[0], height)
    wx = _resize_weights(image.shape[1], width)
    return np.einsum("yi,ijc,xj->yxc", wy, image, wx, optimize=True).astype(np.float32)


def bilinear_sample(
    image: npt.NDArray[np.float32], x: npt.NDArray[np.floating], y: npt.NDArray[np.floating]
) -> npt.NDArray[np.float32]:
    """`image` (H, W, C) at the points (x, y) by bilinear interpolation; points
    outside are clamped to the border. Returns shape x.shape + (C,)."""
    h, w = image.shape[:2]
    x = np.clip(x, 0.0, w - 1.0)
    y = np.clip(y, 0.0, h - 1.0)
    # The last row and column are reached as the far corner of the cell before.
    x0 = np.minimum(np.floor(x).astype(np.intp), max(w - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.intp), max(h - 2, 0))
    fx = (x - x0).astype(np.float32)[..., None]
    fy = (y - y0).astype(np.float32)[..., None]
    # Gathers from the flattened image: one index array for the four neighbours.
    flat = image.reshape(h * w, -1)
    i00 = y0 * w + x0
    dx = 1 if w > 1 else 0
    dy = w if h > 1 else 0
    top = flat[i00] * (1 - fx) + flat[i00 + dx] * fx
    bottom = flat[i00 + dy] * (1 - fx) + flat[i00 + dy + dx] * fx
    return top * (1 - fy) + bottom * fy


def _to_uint8(frames: npt.NDArray[np.float32]) -> Frames:
    return np.ascontiguousarray(np.clip(np.rint(frames), 0, 255).astype(np.uint8))


# ---- the camera -------------------------------------------------------------------


@dataclass(frozen=True)
class CameraPath:
    """How the content moves from frame 0 to frame t: it is shifted by
    `shift[t]` (image coordinates), magnified by `scale[t]` and turned by
    `angle[t]` degrees counterclockwise, about the frame's centre."""

    shift: npt.NDArray[np.float64]  # (T, 2)
    scale: npt.NDArray[np.float64]  # (T,)
    angle: npt.NDArray[np.float64]  # (T,)

    def __len__(self) -> int:
        return len(self.scale)

    def scene_points(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], centre: tuple[float, float]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Where the frame points (x, y), offsets from the frame's centre, look in the
        scene at every time, relative to the scene point seen at the centre of frame 0:
        the inverse of the content's motion. Shapes (T,) + x.shape."""
        a = np.radians(self.angle)[:, None]
        c, s = np.cos(a), np.sin(a)
        u = x.reshape(1, -1) - self.shift[:, :1]
        v = y.reshape(1, -1) - self.shift[:, 1:]
        # The content turns counterclockwise on the screen, which in image
        # coordinates (y down) is R = [[c, s], [-s, c]]; the scene is read through
        # the inverse, R(-angle) / scale.
        sx = (c * u - s * v) / self.scale[:, None]
        sy = (s * u + c * v) / self.scale[:, None]
        shape = (len(self), *x.shape)
        return (sx + centre[0]).reshape(shape), (sy + centre[1]).reshape(shape)


def camera_path(
    frames: int,
    *,
    velocity: Velocity | None = None,
    zoom: float = 1.0,
    angular_speed: float = 0.0,
) -> CameraPath:
    """A camera that pans at `velocity`, zooms by `zoom` in total over the clip
    (at a constant rate, so the content expands or shrinks by the same ratio each
    frame) and turns at `angular_speed` degrees per frame."""
    if frames < 1:
        raise ValueError(f"a clip needs at least one frame, got {frames}")
    if zoom <= 0:
        raise ValueError(f"zoom must be positive, got {zoom}")
    t = np.arange(frames, dtype=np.float64)
    step = velocity.image_step() if velocity is not None else np.zeros(2)
    rate = np.log(zoom) / max(frames - 1, 1)
    return CameraPath(shift=t[:, None] * step, scale=np.exp(rate * t), angle=angular_speed * t)


def _frame_grid(size: tuple[int, int]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Pixel offsets from the frame's centre, (H, W) each."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return x - (w - 1) / 2, y - (h - 1) / 2


def _fit_scene(
    photo: npt.NDArray[np.float32],
    path: CameraPath,
    size: tuple[int, int],
    rng: np.random.Generator,
    view: float,
) -> tuple[npt.NDArray[np.float32], tuple[float, float]]:
    """The photograph resized so that the whole camera path stays inside it, and the
    scene point seen at the centre of frame 0.

    The smallest size that holds the path is enlarged by `view` (>= 1: the
    camera sees a smaller part of the scene). The path is placed at random in the
    room left, on whole pixels where it can be, so that a frame at scale 1 is an
    exact crop of the scene.
    """
    h, w = size
    gx, gy = _frame_grid(size)
    cx = gx[[0, 0, -1, -1], [0, -1, 0, -1]]
    cy = gy[[0, 0, -1, -1], [0, -1, 0, -1]]
    # The mapping is affine in each frame, so the corners bound the points seen.
    sx, sy = path.scene_points(cx, cy, (0.0, 0.0))
    lo = np.array([sx.min(), sy.min()])
    hi = np.array([sx.max(), sy.max()])
    need = hi - lo + 1.0
    ph, pw = photo.shape[:2]
    fit = max(need[0] / pw, need[1] / ph) * max(view, 1.0)
    sw, sh = max(int(np.ceil(pw * fit)), w), max(int(np.ceil(ph * fit)), h)
    scene = resize_photo(photo, sh, sw)
    # The centre c must keep c + lo >= 0 and c + hi <= size - 1; frame offsets
    # sit at half pixels for even sizes, so c does too.
    frac = np.array([(w - 1) / 2 % 1, (h - 1) / 2 % 1])
    first = np.ceil(-lo - frac)
    last = np.floor(np.array([sw - 1, sh - 1]) - hi - frac)
    centre = np.where(
        last >= first,
        frac + first + np.floor(rng.random(2) * (last - first + 1)),
        -lo + (np.array([sw - 1, sh - 1]) - hi + lo) / 2,
    )
    return scene, (float(centre[0]), float(centre[1]))


def render_camera(
    photo: npt.ArrayLike,
    path: CameraPath,
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    view: float = 1.0,
) -> Frames:
    """The clip a camera moving along `path` films of the scene in `photo`:
    (T, H, W, 3) uint8. The photograph is resized so that the path never leaves
    it (see `_fit_scene`)."""
    # The scene is read at most one scene pixel per frame pixel (at the widest
    # view of a zoom), so that no frame aliases; the motion between frames is
    # the same.
    path = CameraPath(path.shift, path.scale / path.scale.min(), path.angle)
    rng = np.random.default_rng(seed)
    scene, centre = _fit_scene(_as_float_rgb(photo), path, size, rng, view)
    x, y = _frame_grid(size)
    sx, sy = path.scene_points(x, y, centre)
    return _to_uint8(bilinear_sample(scene, sx, sy))


def camera_pan(
    photo: npt.ArrayLike,
    velocity: Velocity,
    *,
    frames: int = 64,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    view: float = 1.0,
) -> Frames:
    """A camera panning over `photo` so that the content moves at `velocity`."""
    return render_camera(
        photo, camera_path(frames, velocity=velocity), size=size, seed=seed, view=view
    )


def camera_zoom(
    photo: npt.ArrayLike,
    zoom: float,
    *,
    frames: int = 64,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    view: float = 1.0,
) -> Frames:
    """A camera zooming into (`zoom` > 1) or out of (`zoom` < 1) `photo`, by `zoom` in
    total over the clip, about the frame's centre."""
    return render_camera(photo, camera_path(frames, zoom=zoom), size=size, seed=seed, view=view)


def camera_rotation(
    photo: npt.ArrayLike,
    angular_speed: float,
    *,
    frames: int = 64,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    view: float = 1.0,
) -> Frames:
    """A camera turning about its optical axis so that the content of `photo` turns
    by `angular_speed` degrees per frame (counterclockwise when positive)."""
    return render_camera(
        photo, camera_path(frames, angular_speed=angular_speed), size=size, seed=seed, view=view
    )


# ---- objects --------------------------------------------------------------------


def soft_ellipse(height: int, width: int, *, softness: float = 0.25) -> npt.NDArray[np.float32]:
    """An (height, width) opacity mask: 1 inside the ellipse inscribed in the box,
    falling smoothly (smoothstep) to 0 over the outer `softness` of its radius."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = np.hypot((x - (width - 1) / 2) / (width / 2), (y - (height - 1) / 2) / (height / 2))
    t = np.clip((1.0 - r) / softness, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


@dataclass(frozen=True)
class MovingObject:
    """A textured patch with soft edges (RGBA, float, alpha in 0..1) that crosses
    the frame at `velocity`, passing `midpoint` (offset from the frame's centre,
    image coordinates) halfway through the clip."""

    patch: npt.NDArray[np.float32]  # (h, w, 4)
    velocity: Velocity
    midpoint: tuple[float, float] = (0.0, 0.0)

    def centres(self, frames: int) -> npt.NDArray[np.float64]:
        """The patch centre in every frame, offsets from the frame's centre: (T, 2)."""
        t = np.arange(frames, dtype=np.float64) - (frames - 1) / 2
        return np.asarray(self.midpoint) + t[:, None] * self.velocity.image_step()


def cut_object(
    texture: npt.ArrayLike,
    height: int,
    width: int,
    *,
    seed: int = 0,
    softness: float = 0.25,
    tries: int = 8,
) -> npt.NDArray[np.float32]:
    """A patch of (height, width) cut from `texture`, with a soft elliptical outline:
    (h, w, 4) float32, RGB in 0..255 and opacity in 0..1. Of `tries` random places,
    the one with the most contrast is cut, so that the object's motion is visible
    (a patch of clear sky would hide it)."""
    rng = np.random.default_rng(seed)
    image = _as_float_rgb(texture)
    th, tw = image.shape[:2]
    if th < height or tw < width:
        image = resize_photo(image, max(th, height), max(tw, width))
        th, tw = image.shape[:2]
    candidates = [
        image[y0 : y0 + height, x0 : x0 + width]
        for y0, x0 in zip(
            rng.integers(0, th - height + 1, max(tries, 1)),
            rng.integers(0, tw - width + 1, max(tries, 1)),
            strict=True,
        )
    ]
    rgb = max(candidates, key=lambda c: float(c.mean(axis=2).std()))
    alpha = soft_ellipse(height, width, softness=softness)
    return np.concatenate([rgb, alpha[:, :, None]], axis=2)


def composite_objects(background: Frames, objects: list[MovingObject]) -> Frames:
    """`objects` moving over the clip `background` (T, H, W, 3), later ones in front."""
    frames, h, w = background.shape[:3]
    out = background.astype(np.float32)
    for obj in objects:
        # A transparent border, so that bilinear samples fade out at the patch edge
        # (and points beyond it, clamped to the border, are transparent).
        patch = np.pad(obj.patch, ((2, 2), (2, 2), (0, 0)))
        ph, pw = patch.shape[:2]
        offset = np.array([(w - 1) / 2 - (pw - 1) / 2, (h - 1) / 2 - (ph - 1) / 2])
        corners = obj.centres(frames) + offset
        for t, (left, top) in enumerate(corners):
            # Only the pixels the patch covers in this frame are sampled.
            x0, x1 = max(0, int(np.floor(left))), min(w, int(np.ceil(left + pw - 1)) + 1)
            y0, y1 = max(0, int(np.floor(top))), min(h, int(np.ceil(top + ph - 1)) + 1)
            if x0 >= x1 or y0 >= y1:
                continue
            y, x = np.mgrid[y0:y1, x0:x1].astype(np.float64)
            rgba = bilinear_sample(patch, x - left, y - top)
            alpha = rgba[..., 3:]
            region = out[t, y0:y1, x0:x1]
            out[t, y0:y1, x0:x1] = region * (1.0 - alpha) + rgba[..., :3] * alpha
    return _to_uint8(out)


def moving_objects(
    background: npt.ArrayLike,
    textures: list[npt.ArrayLike],
    velocities: list[Velocity],
    *,
    frames: int = 64,
    size: tuple[int, int] = DEFAULT_SIZE,
    object_size: tuple[float, float] = (0.3, 0.5),
    camera: Velocity | None = None,
    seed: int = 0,
) -> Frames:
    """Textured objects cut from `textures` (one per velocity, cycling through the
    textures) crossing a scene made from `background`, each at its velocity; the
    camera is still, or pans at `camera`.

    Object sides are drawn from `object_size` times the frame's shorter side; each
    object passes a random point of the frame's central half halfway through."""
    if not textures:
        raise ValueError("moving_objects needs at least one texture")
    rng = np.random.default_rng(seed)
    back = render_camera(
        background,
        camera_path(frames, velocity=camera),
        size=size,
        seed=int(rng.integers(2**31)),
        view=float(rng.uniform(1.0, 1.5)),
    )
    short = min(size)
    objects = []
    for k, velocity in enumerate(velocities):
        oh, ow = (round(short * rng.uniform(*object_size)) for _ in range(2))
        patch = cut_object(textures[k % len(textures)], oh, ow, seed=int(rng.integers(2**31)))
        mid = (rng.uniform(-0.25, 0.25) * size[1], rng.uniform(-0.25, 0.25) * size[0])
        objects.append(MovingObject(patch, velocity, mid))
    return composite_objects(back, objects)
