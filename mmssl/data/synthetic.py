"""Synthetic-but-realistic raw media: a user's uncurated folder, with known classes behind it.

`generate_media` writes a folder tree of images (mostly JPEG; some PNG, progressive JPEG, EXIF-rotated,
grayscale), H.264 videos (most with AAC audio) and a few corrupt files, under mixed names, subfolders
and extension cases, as preparation meets them in the wild. Beside the media it writes
`labels.parquet` (one row per good file, `source` relative to the root) and `expected_rejects.parquet`
(the corrupt files), so quick learning checks (kNN on the generated classes) and preparation's
accept/reject accounting can be tested.

Image classes are structure families (stripes, checkerboards, discs, ...) drawn with random colours,
positions, scales, backgrounds and noise: colour carries no class information, structure does. With
`image_scene="one_object"` each image is instead one large upright shape near the middle (disc, square,
...), an object-centric photo whose parts tell where in the picture they are (what Jigsaw needs).
Video classes are a moving object (shape and speed by class) bouncing off the walls; the audio is a
tone whose pitch is set by the class and bends with the object's height, plus a click at each bounce,
so sound and picture agree. With `bounce_flash_s` the object also flashes at each bounce, a cue to
the click's moment that a network sees wherever the bounce happens in the frame. Everything is a pure function of the seed.
"""

from __future__ import annotations

import colorsys
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw
from tqdm import tqdm

LABELS_FILE = "labels.parquet"
EXPECTED_REJECTS_FILE = "expected_rejects.parquet"
METADATA_FILES = (LABELS_FILE, EXPECTED_REJECTS_FILE)  # beside MEDIA_DIR, never inside it
MEDIA_DIR = "media"  # the folder to prepare: media only, so preparation's accounting is exact

IMAGE_CLASS_NAMES = (
    "horizontal_stripes",
    "diagonal_stripes",
    "checkerboard",
    "discs",
    "boxes",
    "rings",
    "triangles",
    "x_marks",
)
# "one_object" scenes: one large shape near the middle (object-centric, as ImageNet photos are), whose
# parts tell where in the picture they are; the "structure" families are textures that look alike everywhere
IMAGE_OBJECT_CLASS_NAMES = ("disc", "square", "triangle", "ring", "x_mark", "plus")
_SCENE_CLASSES = {"structure": IMAGE_CLASS_NAMES, "one_object": IMAGE_OBJECT_CLASS_NAMES}
IMAGE_SCENES = tuple(_SCENE_CLASSES)
VIDEO_COLOURS = ("any", "hue_only")
VIDEO_CLASS_NAMES = ("disc", "square", "triangle", "ring", "x_mark", "diamond", "bar", "plus")
MAX_CLASSES = len(IMAGE_CLASS_NAMES)

IMAGE_FORMATS = ("jpeg", "png", "progressive_jpeg", "exif_rotated_jpeg", "grayscale_jpeg")
# share of each non-baseline format among images (at least one of each when there is room)
_RARE_FORMAT_SHARE = {"png": 0.08, "progressive_jpeg": 0.06, "exif_rotated_jpeg": 0.05, "grayscale_jpeg": 0.03}
CORRUPT_KINDS = ("truncated_jpeg", "empty_file", "text_named_jpg", "truncated_mp4")

TONE_BASE_HZ = 330.0  # class k sounds at TONE_BASE_HZ * 2**(TONE_CLASS_STEP_SEMITONES * k / 12)
TONE_CLASS_STEP_SEMITONES = 5.0
TONE_HEIGHT_BEND_SEMITONES = 1.0  # top of the frame: +1, bottom: -1 semitone

_EXIF_ORIENTATION_TAG = 0x0112
# orientation -> transpose that turns the upright picture into the stored pixels
_EXIF_STORE_TRANSPOSE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}

_IMAGE_DIRS = ("", "photos", "photos/2019", "photos/2021/summer", "Camera Uploads", "downloads/holiday pics", "scans")
_VIDEO_DIRS = ("videos", "Movies/2020", "phone/DCIM")
_PROGRESS_MIN_FILES = 500


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. Sizes are (width, height) in pixels; the long side of images is drawn per image."""

    num_images: int = 200
    num_videos: int = 8
    num_classes: int = 6
    num_corrupt: int = 4
    seed: int = 0
    image_long_side_px: tuple[int, int] = (320, 500)
    image_scene: str = "structure"  # one of IMAGE_SCENES: texture-like structure families, or one centred object
    video_seconds: tuple[float, float] = (1.0, 3.0)
    video_sizes: tuple[tuple[int, int], ...] = ((160, 120), (192, 144), (240, 180), (320, 240))
    video_fps_choices: tuple[int, ...] = (24, 25, 30)
    audio_fraction: float = 0.75  # share of videos with an audio stream (at least one with, one without)
    audio_sample_rate_hz: int = 44100
    video_object_scale: tuple[float, float] = (0.1, 0.16)  # the object's radius, as a share of the short side
    bounce_flash_s: float = 0.0  # > 0: the object flashes (black or white) this long after each bounce
    video_colours: str = "any"  # "any": iid RGB per video; "hue_only": a light background, a dark object, hues random
    progress: bool | None = None  # None: a tqdm bar only for large counts

    def __post_init__(self) -> None:
        for name in ("num_images", "num_videos", "num_corrupt"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 2 <= self.num_classes <= MAX_CLASSES:
            raise ValueError(f"num_classes must be in 2..{MAX_CLASSES} (one per structure family), got {self.num_classes}")
        if self.image_scene not in IMAGE_SCENES:
            raise ValueError(f"image_scene must be one of {IMAGE_SCENES}, got {self.image_scene!r}")
        if self.image_scene == "one_object" and self.num_images and self.num_classes > len(IMAGE_OBJECT_CLASS_NAMES):
            raise ValueError(f"image_scene='one_object' has {len(IMAGE_OBJECT_CLASS_NAMES)} classes "
                             f"({', '.join(IMAGE_OBJECT_CLASS_NAMES)}), got num_classes={self.num_classes}")
        low, high = self.image_long_side_px
        if not 32 <= low <= high:
            raise ValueError(f"image_long_side_px must be (low, high) with 32 <= low <= high, got {self.image_long_side_px}")
        shortest, longest = self.video_seconds
        if not 0 < shortest <= longest:
            raise ValueError(f"video_seconds must be (shortest, longest) with 0 < shortest <= longest, got {self.video_seconds}")
        for width, height in self.video_sizes:
            if width % 2 or height % 2 or min(width, height) < 32:
                raise ValueError(f"video size {width}x{height}: H.264 4:2:0 needs even sides >= 32")
        if not self.video_sizes or not self.video_fps_choices or min(self.video_fps_choices) <= 0:
            raise ValueError(f"need at least one video size and positive fps, got {self.video_sizes}, {self.video_fps_choices}")
        small, large = self.video_object_scale
        if not 0 < small <= large <= 0.45:
            raise ValueError(f"video_object_scale must be (small, large) with 0 < small <= large <= 0.45, "
                             f"got {self.video_object_scale}")
        if self.video_colours not in VIDEO_COLOURS:
            raise ValueError(f"video_colours must be one of {VIDEO_COLOURS}, got {self.video_colours!r}")
        if self.bounce_flash_s < 0:
            raise ValueError(f"bounce_flash_s must be >= 0, got {self.bounce_flash_s}")
        if not 0.0 <= self.audio_fraction <= 1.0:
            raise ValueError(f"audio_fraction must be in [0, 1], got {self.audio_fraction}")
        if self.audio_sample_rate_hz not in (22050, 32000, 44100, 48000):
            raise ValueError(f"audio_sample_rate_hz={self.audio_sample_rate_hz}: use 22050, 32000, 44100 or 48000")


@dataclass
class GeneratedMedia:
    """Where everything went. Paths are absolute; `labels.parquet` holds each file's `source` relative to
    `media_root` (= root / "media"), the folder a user would hand to preparation."""

    root: Path
    labels_file: Path
    expected_rejects_file: Path
    images: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    videos_with_audio: list[Path] = field(default_factory=list)
    expected_rejects: list[Path] = field(default_factory=list)
    class_names: dict[str, list[str]] = field(default_factory=dict)  # modality -> names by label

    @property
    def media_root(self) -> Path:
        return self.root / MEDIA_DIR

    @property
    def media_files(self) -> list[Path]:
        """Every input preparation will see (good and corrupt), sorted."""
        return sorted(self.images + self.videos + self.expected_rejects)


# ---------------------------------------------------------------- image structure (class masks)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates as broadcastable (H, 1) and (1, W) float32 arrays."""
    return np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :]


def _grating(rng: np.random.Generator, height: int, width: int, angle_deg: float) -> np.ndarray:
    """Square-wave bars whose stripes run at `angle_deg` (0 = horizontal bars)."""
    yy, xx = _grid(height, width)
    period_px = rng.uniform(0.05, 0.12) * min(height, width)
    theta = math.radians(angle_deg)
    across = -xx * math.sin(theta) + yy * math.cos(theta)
    duty = rng.uniform(0.35, 0.65)
    phase = (across / period_px + rng.uniform(0, 1)) % 1.0
    return (phase < duty).astype(np.float32)


def _horizontal_stripes(rng, height, width):
    return _grating(rng, height, width, rng.uniform(-12, 12))


def _diagonal_stripes(rng, height, width):
    return _grating(rng, height, width, rng.choice([45.0, 135.0]) + rng.uniform(-12, 12))


def _checkerboard(rng, height, width):
    yy, xx = _grid(height, width)
    cell_px = rng.uniform(0.06, 0.14) * min(height, width)
    theta = math.radians(rng.uniform(-8, 8))
    u = (xx * math.cos(theta) + yy * math.sin(theta)) / cell_px + rng.uniform(0, 1)
    v = (-xx * math.sin(theta) + yy * math.cos(theta)) / cell_px + rng.uniform(0, 1)
    return ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)


def _rings(rng, height, width):
    yy, xx = _grid(height, width)
    cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
    period_px = rng.uniform(0.05, 0.12) * min(height, width)
    radius = np.hypot(yy - cy, xx - cx)
    return ((radius / period_px + rng.uniform(0, 1)) % 1.0 < 0.5).astype(np.float32)


def _polygon(center: tuple[float, float], radius: float, corners: int, angle: float) -> list[tuple[float, float]]:
    return [
        (center[0] + radius * math.cos(turn), center[1] + radius * math.sin(turn))
        for turn in (angle + 2 * math.pi * i / corners for i in range(corners))
    ]


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, center: tuple[float, float], size: float, angle: float) -> None:
    """One filled shape of `size` (about its radius) at `center` (x, y)."""
    x, y = center
    if kind in ("disc", "discs"):
        draw.ellipse([x - size, y - size, x + size, y + size], fill=255)
    elif kind == "ring":
        draw.ellipse([x - size, y - size, x + size, y + size], fill=255)
        draw.ellipse([x - size * 0.55, y - size * 0.55, x + size * 0.55, y + size * 0.55], fill=0)
    elif kind in ("boxes", "square"):
        draw.rectangle([x - size, y - size * 0.75, x + size, y + size * 0.75], fill=255)
    elif kind in ("triangles", "triangle"):
        draw.polygon(_polygon(center, size, 3, angle), fill=255)
    elif kind == "diamond":
        draw.polygon(_polygon(center, size, 4, 0.0), fill=255)
    elif kind == "bar":
        draw.rectangle([x - size, y - size * 0.3, x + size, y + size * 0.3], fill=255)
    elif kind in ("x_marks", "x_mark", "plus"):
        arm = size * 0.28
        tilt = math.pi / 4 if kind != "plus" else 0.0
        for turn in (tilt, tilt + math.pi / 2):
            c, s = math.cos(turn), math.sin(turn)
            corners = [(-size, -arm), (size, -arm), (size, arm), (-size, arm)]
            draw.polygon([(x + px * c - py * s, y + px * s + py * c) for px, py in corners], fill=255)
    else:
        raise ValueError(f"unknown shape kind {kind!r}")


def _scattered_shapes(kind: str) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    def mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        size_px = rng.uniform(0.07, 0.16) * min(height, width)
        for _ in range(int(rng.integers(3, 9))):
            center = (rng.uniform(0, width), rng.uniform(0, height))
            _draw_shape(draw, kind, center, size_px * rng.uniform(0.7, 1.3), rng.uniform(0, 2 * math.pi))
        return np.asarray(canvas, dtype=np.float32) / 255.0

    return mask


_CLASS_MASKS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "horizontal_stripes": _horizontal_stripes,
    "diagonal_stripes": _diagonal_stripes,
    "checkerboard": _checkerboard,
    "discs": _scattered_shapes("discs"),
    "boxes": _scattered_shapes("boxes"),
    "rings": _rings,
    "triangles": _scattered_shapes("triangles"),
    "x_marks": _scattered_shapes("x_marks"),
}


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=3).astype(np.float32)


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground colours, iid for every class but far enough apart to see the structure."""
    while True:
        background, foreground = _random_colour(rng), _random_colour(rng)
        if np.abs(background - foreground).max() > 0.3:
            return background, foreground


def _centred_object(kind: str) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    """One upright shape whose radius is 28-42% of the short side, its centre within 8% of the middle."""
    def mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        canvas = Image.new("L", (width, height), 0)
        size_px = rng.uniform(0.28, 0.42) * min(height, width)
        centre = (width * (0.5 + rng.uniform(-0.08, 0.08)), height * (0.5 + rng.uniform(-0.08, 0.08)))
        _draw_shape(ImageDraw.Draw(canvas), kind, centre, size_px, -math.pi / 2 + rng.uniform(-0.2, 0.2))
        return np.asarray(canvas, dtype=np.float32) / 255.0

    return mask


_IMAGE_MASKS = {**_CLASS_MASKS, **{kind: _centred_object(kind) for kind in IMAGE_OBJECT_CLASS_NAMES}}


def image_class_names(scene: str = "structure") -> tuple[str, ...]:
    """The image classes of a scene kind (IMAGE_SCENES), by label."""
    return _SCENE_CLASSES[scene]


def render_image(class_index: int, width: int, height: int, rng: np.random.Generator,
                 scene: str = "structure") -> np.ndarray:
    """An upright HxWx3 uint8 picture of class `class_index` (an index into image_class_names(scene))."""
    mask = _IMAGE_MASKS[image_class_names(scene)[class_index]](rng, height, width)[..., None]
    background, foreground = _colour_pair(rng)
    yy, xx = _grid(height, width)
    # a soft linear gradient on the background, towards a random direction
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(direction) + yy * math.sin(direction)) / max(height, width)
    shade = rng.uniform(-0.25, 0.25, size=3).astype(np.float32)
    picture = (background + ramp[..., None] * shade) * (1 - mask) + foreground * mask
    picture += rng.uniform(0.01, 0.05) * rng.standard_normal(picture.shape, dtype=np.float32)
    return (np.clip(picture, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def _image_size(rng: np.random.Generator, long_side_px: tuple[int, int]) -> tuple[int, int]:
    """(width, height): a long side in the range and a common photo aspect ratio, either way round."""
    long_side = int(rng.integers(long_side_px[0], long_side_px[1] + 1))
    aspect = rng.choice([4 / 3, 3 / 2, 16 / 9, 1.0, 5 / 4])
    short_side = max(16, int(round(long_side / aspect)))
    return (long_side, short_side) if rng.uniform() < 0.7 else (short_side, long_side)


def encode_image(pixels: np.ndarray, image_format: str, rng: np.random.Generator) -> bytes:
    """The file bytes of upright `pixels` in `image_format` (one of IMAGE_FORMATS)."""
    picture = Image.fromarray(pixels)
    out = io.BytesIO()
    quality = int(rng.integers(80, 96))
    if image_format == "jpeg":
        picture.save(out, "JPEG", quality=quality)
    elif image_format == "png":
        picture.save(out, "PNG", compress_level=1)
    elif image_format == "progressive_jpeg":
        picture.save(out, "JPEG", quality=quality, progressive=True)
    elif image_format == "grayscale_jpeg":
        picture.convert("L").save(out, "JPEG", quality=quality)
    elif image_format == "exif_rotated_jpeg":
        orientation = int(rng.choice(list(_EXIF_STORE_TRANSPOSE)))
        exif = Image.Exif()
        exif[_EXIF_ORIENTATION_TAG] = orientation
        picture.transpose(_EXIF_STORE_TRANSPOSE[orientation]).save(out, "JPEG", quality=quality, exif=exif.tobytes())
    else:
        raise ValueError(f"unknown image format {image_format!r}; use one of {IMAGE_FORMATS}")
    return out.getvalue()


def _image_formats(num_images: int, rng: np.random.Generator) -> list[str]:
    """Formats for all images: mostly baseline JPEG, each rare format at least once when there is room."""
    rare: list[str] = []
    for image_format, share in _RARE_FORMAT_SHARE.items():
        rare += [image_format] * max(1, round(share * num_images))
    rare = rare[: max(0, num_images - 1)]  # keep at least one baseline JPEG
    formats = rare + ["jpeg"] * (num_images - len(rare))
    return [formats[i] for i in rng.permutation(num_images)]


def _balanced_labels(count: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.arange(count) % num_classes)


def _image_name(number: int, image_format: str, rng: np.random.Generator) -> str:
    """A camera-, phone- or download-style relative path; `number` keeps it unique."""
    folder = _IMAGE_DIRS[int(rng.integers(len(_IMAGE_DIRS)))]
    stem = rng.choice(["IMG_{:04d}", "DSC{:05d}", "photo {}", "img-{}", "Scan_{:03d}"]).format(number)
    if image_format == "png":
        extension = rng.choice([".png", ".PNG"])
    else:
        extension = rng.choice([".jpg", ".jpg", ".jpg", ".JPG", ".jpeg"])
    return f"{folder}/{stem}{extension}" if folder else f"{stem}{extension}"


# ---------------------------------------------------------------- videos: a bouncing object and its sound


@dataclass(frozen=True)
class VideoTrack:
    """The object's path: centre (x, y) per frame in pixels, its radius, and when it hit a wall."""

    centers_px: np.ndarray  # (num_frames, 2) float
    radius_px: float
    bounce_times_s: tuple[float, ...]


def _bounce_axis(position: float, velocity: float, low: float, high: float, dt: float) -> tuple[float, float, float | None]:
    """Advance one axis by dt with reflection at [low, high]; returns (position, velocity, hit offset in s)."""
    moved = position + velocity * dt
    if moved < low:
        return 2 * low - moved, -velocity, (low - position) / velocity
    if moved > high:
        return 2 * high - moved, -velocity, (high - position) / velocity
    return moved, velocity, None


def object_track(class_index: int, width: int, height: int, num_frames: int, fps: float, rng: np.random.Generator,
                 scale: tuple[float, float] = (0.1, 0.16)) -> VideoTrack:
    """Straight-line motion bouncing off the frame edges; faster for higher classes. `scale`: the
    range of the object's radius as a share of the short side."""
    radius = rng.uniform(*scale) * min(width, height)
    speed_px_s = (0.45 + 0.12 * class_index) * width * rng.uniform(0.9, 1.1)
    angle = rng.uniform(math.radians(25), math.radians(65)) + math.pi / 2 * int(rng.integers(4))
    velocity = [speed_px_s * math.cos(angle), speed_px_s * math.sin(angle)]
    position = [rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)]
    limits = [(radius, width - radius), (radius, height - radius)]
    centers, bounces = [], []
    for frame in range(num_frames):
        centers.append(tuple(position))
        for axis in (0, 1):
            position[axis], velocity[axis], hit_s = _bounce_axis(position[axis], velocity[axis], *limits[axis], 1 / fps)
            if hit_s is not None and frame + 1 < num_frames:
                bounces.append(frame / fps + hit_s)
    return VideoTrack(np.asarray(centers, dtype=np.float64), float(radius), tuple(sorted(bounces)))


def tone_frequency_hz(class_index: int) -> float:
    """The pitch a video of class `class_index` sounds at when its object is at mid height."""
    return TONE_BASE_HZ * 2 ** (TONE_CLASS_STEP_SEMITONES * class_index / 12)


def render_audio(
    class_index: int, track: VideoTrack, height: int, fps: float, sample_rate_hz: int, rng: np.random.Generator
) -> np.ndarray:
    """Mono float32 audio as long as the video: a tone bent by the object's height, clicks on bounces."""
    num_samples = int(round(len(track.centers_px) / fps * sample_rate_hz))
    time_s = np.arange(num_samples) / sample_rate_hz
    frame_times_s = np.arange(len(track.centers_px)) / fps
    y = np.interp(time_s, frame_times_s, track.centers_px[:, 1])
    travel = max(height - 2 * track.radius_px, 1e-6)
    bend = TONE_HEIGHT_BEND_SEMITONES * np.clip(1 - 2 * (y - track.radius_px) / travel, -1, 1)  # top: +1
    frequency_hz = tone_frequency_hz(class_index) * 2 ** (bend / 12)
    phase = 2 * np.pi * np.cumsum(frequency_hz) / sample_rate_hz + rng.uniform(0, 2 * np.pi)
    audio = 0.3 * np.sin(phase) + rng.normal(0, 0.003, num_samples)
    click_len = int(0.006 * sample_rate_hz)
    envelope = np.exp(-np.arange(click_len) / (0.0015 * sample_rate_hz))
    for bounce_s in track.bounce_times_s:
        start = int(bounce_s * sample_rate_hz)
        piece = audio[start : start + click_len]
        piece += 0.5 * envelope[: len(piece)] * rng.uniform(-1, 1, len(piece))
    return np.clip(audio, -1, 1).astype(np.float32)


def flash_frames(track: VideoTrack, fps: float, flash_s: float) -> np.ndarray:
    """[num_frames] bool: frames shown within `flash_s` after a bounce (none when `flash_s` is 0)."""
    times_s = np.arange(len(track.centers_px)) / fps
    flashing = np.zeros(len(times_s), dtype=bool)
    for bounce_s in track.bounce_times_s if flash_s > 0 else ():
        flashing |= (times_s >= bounce_s) & (times_s < bounce_s + flash_s)
    return flashing


def _hue_only_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A light background and a dark object, each of a random hue: only hue differs between videos."""
    background = colorsys.hls_to_rgb(rng.uniform(0, 1), 0.7, 0.5)
    foreground = colorsys.hls_to_rgb(rng.uniform(0, 1), 0.3, 0.6)
    return np.asarray(background, dtype=np.float32), np.asarray(foreground, dtype=np.float32)


def render_frames(class_index: int, track: VideoTrack, width: int, height: int, rng: np.random.Generator,
                  flashing: np.ndarray | None = None, colours: str = "any") -> np.ndarray:
    """(num_frames, H, W, 3) uint8: the object over a still, softly shaded background. Frames marked in
    `flashing` show the object white (black when its colour is light), whatever its colour. `colours`:
    one of VIDEO_COLOURS."""
    background_colour, object_colour = _hue_only_pair(rng) if colours == "hue_only" else _colour_pair(rng)
    luminance = float(object_colour @ np.array([0.299, 0.587, 0.114], dtype=np.float32))
    flash_colour = np.full(3, 0.0 if luminance > 0.5 else 1.0, dtype=np.float32)
    yy, xx = _grid(height, width)
    shade = rng.uniform(-0.2, 0.2, size=3).astype(np.float32)
    background = background_colour + (xx / width)[..., None] * shade  # (1, W, 3): one row
    background = background + 0.02 * rng.standard_normal((height, width, 3), dtype=np.float32)
    side = int(math.ceil(2 * track.radius_px)) + 3
    sprite = Image.new("L", (side, side), 0)
    shape, angle = VIDEO_CLASS_NAMES[class_index], rng.uniform(0, 2 * math.pi)
    _draw_shape(ImageDraw.Draw(sprite), shape, (side / 2, side / 2), track.radius_px, angle)
    alpha = np.asarray(sprite, dtype=np.float32)[..., None] / 255.0
    frames = np.empty((len(track.centers_px), height, width, 3), dtype=np.uint8)
    for i, (cx, cy) in enumerate(track.centers_px):
        frame = background.copy()
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
        a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        colour = flash_colour if flashing is not None and flashing[i] else object_colour
        frame[fy0:fy1, fx0:fx1] = frame[fy0:fy1, fx0:fx1] * (1 - a) + colour * a
        frames[i] = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
    return frames


def encode_mp4(frames: np.ndarray, fps: int, audio: np.ndarray | None, sample_rate_hz: int) -> bytes:
    """H.264 (yuv420p, the encoder's default long GOP, as a camera would) plus optional mono AAC, in MP4."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        video.thread_count = 1  # a light CPU footprint
        # mbtree off: with it, this x264 build gives run-to-run different bytes on some clips
        # (measured: 1 in 8 default videos); a seed must give the same files
        video.options = {"preset": "veryfast", "crf": "23", "x264-params": "mbtree=0"}
        sound = container.add_stream("aac", rate=sample_rate_hz, layout="mono") if audio is not None else None
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            for start in range(0, len(audio), 1024):
                chunk = av.AudioFrame.from_ndarray(audio[None, start : start + 1024].copy(), format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = sample_rate_hz, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return out.getvalue()


def _video_name(number: int, rng: np.random.Generator) -> str:
    folder = _VIDEO_DIRS[int(rng.integers(len(_VIDEO_DIRS)))]
    stem = rng.choice(["VID_2020{:04d}", "clip {}", "movie-{}", "MVI_{:04d}"]).format(number)
    return f"{folder}/{stem}{rng.choice(['.mp4', '.mp4', '.MP4'])}"


# ---------------------------------------------------------------- corrupt inputs


def _corrupt_file(kind: str, rng: np.random.Generator) -> bytes:
    """Bytes that look like media by name but fail to decode."""
    if kind == "truncated_jpeg":
        whole = encode_image(render_image(0, 160, 120, rng), "jpeg", rng)
        return whole[: len(whole) * 2 // 5]  # header intact, scan data cut: opens, fails on load
    if kind == "empty_file":
        return b""
    if kind == "text_named_jpg":
        return b"<html><head><title>404 Not Found</title></head><body>The requested URL was not found.</body></html>\n"
    if kind == "truncated_mp4":
        track = object_track(0, 96, 64, 24, 24.0, rng)
        whole = encode_mp4(render_frames(0, track, 96, 64, rng), 24, None, 44100)
        return whole[: len(whole) // 2]  # the moov atom is written last: it is gone
    raise ValueError(f"unknown corrupt kind {kind!r}; use one of {CORRUPT_KINDS}")


def _corrupt_name(kind: str, number: int, rng: np.random.Generator) -> str:
    if kind == "truncated_mp4":
        return _video_name(number, rng)
    return _image_name(number, "jpeg", rng)


# ---------------------------------------------------------------- the folder tree and its records

LABELS_SCHEMA = pa.schema(
    [
        ("source", pa.string()),  # POSIX path relative to the root
        ("modality", pa.string()),  # "image" or "video"
        ("label", pa.int32()),  # class index within the modality
        ("class_name", pa.string()),
        ("format", pa.string()),  # IMAGE_FORMATS or "h264_mp4"
        ("width", pa.int32()),  # as displayed (after EXIF orientation)
        ("height", pa.int32()),
        ("fps", pa.float64()),  # videos only
        ("num_frames", pa.int32()),
        ("duration_s", pa.float64()),
        ("has_audio", pa.bool_()),
        ("audio_sample_rate_hz", pa.int32()),
        ("bounce_times_s", pa.list_(pa.float64())),  # when the object hit a wall (a click in the audio)
    ]
)
EXPECTED_REJECTS_SCHEMA = pa.schema([("source", pa.string()), ("modality", pa.string()), ("kind", pa.string())])


def _item_rng(seed: int, stream: int, item: int) -> np.random.Generator:
    """An independent generator per file, so each file depends only on (seed, its kind, its number)."""
    return np.random.default_rng([seed, stream, item])


def _write(root: Path, relative: str, payload: bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def _make_image(root: Path, config: SyntheticConfig, i: int, label: int, image_format: str) -> tuple[Path, dict]:
    rng = _item_rng(config.seed, 1, i)
    width, height = _image_size(rng, config.image_long_side_px)
    payload = encode_image(render_image(label, width, height, rng, config.image_scene), image_format, rng)
    relative = _image_name(100 + i, image_format, rng)
    row = dict(
        source=relative, modality="image", label=label, class_name=image_class_names(config.image_scene)[label],
        format=image_format, width=width, height=height,
    )  # fmt: skip
    return _write(root, relative, payload), row


def _make_video(root: Path, config: SyntheticConfig, i: int, label: int, has_audio: bool) -> tuple[Path, dict]:
    rng = _item_rng(config.seed, 2, i)
    width, height = config.video_sizes[int(rng.integers(len(config.video_sizes)))]
    fps = int(config.video_fps_choices[int(rng.integers(len(config.video_fps_choices)))])
    num_frames = max(2, int(round(rng.uniform(*config.video_seconds) * fps)))
    track = object_track(label, width, height, num_frames, fps, rng, config.video_object_scale)
    frames = render_frames(label, track, width, height, rng, flash_frames(track, fps, config.bounce_flash_s),
                           config.video_colours)
    audio = render_audio(label, track, height, fps, config.audio_sample_rate_hz, rng) if has_audio else None
    relative = _video_name(i + 1, rng)
    row = dict(
        source=relative, modality="video", label=label, class_name=VIDEO_CLASS_NAMES[label], format="h264_mp4",
        width=width, height=height, fps=float(fps), num_frames=num_frames, duration_s=num_frames / fps,
        has_audio=has_audio, audio_sample_rate_hz=config.audio_sample_rate_hz if has_audio else None,
        bounce_times_s=list(track.bounce_times_s),
    )  # fmt: skip
    return _write(root, relative, encode_mp4(frames, fps, audio, config.audio_sample_rate_hz)), row


def _audio_flags(num_videos: int, audio_fraction: float, rng: np.random.Generator) -> np.ndarray:
    with_audio = int(round(audio_fraction * num_videos))
    if num_videos >= 2:
        with_audio = min(max(with_audio, 1), num_videos - 1)  # both kinds present
    return rng.permutation(np.arange(num_videos) < with_audio)


def _check_empty(root: Path) -> None:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(
            f"{root} exists and is not an empty folder; generate into a new or empty folder (or delete it first)"
        )


def generate(out_dir: str | os.PathLike, config: SyntheticConfig) -> GeneratedMedia:
    """Write the media tree described by `config` under `out_dir` (new or empty)."""
    root = Path(out_dir).resolve()
    _check_empty(root)
    root.mkdir(parents=True, exist_ok=True)
    media_root = root / MEDIA_DIR
    plan_rng = _item_rng(config.seed, 0, 0)
    image_labels = _balanced_labels(config.num_images, config.num_classes, plan_rng)
    image_formats = _image_formats(config.num_images, plan_rng)
    video_labels = _balanced_labels(config.num_videos, config.num_classes, plan_rng)
    audio_flags = _audio_flags(config.num_videos, config.audio_fraction, plan_rng)
    media = GeneratedMedia(root, root / LABELS_FILE, root / EXPECTED_REJECTS_FILE)
    media.class_names = {
        "image": list(image_class_names(config.image_scene)[: config.num_classes]),
        "video": list(VIDEO_CLASS_NAMES[: config.num_classes]),
    }
    total = config.num_images + config.num_videos + config.num_corrupt
    show = config.progress if config.progress is not None else total >= _PROGRESS_MIN_FILES
    rows, rejects = [], []
    with tqdm(total=total, desc=f"synthetic media -> {media_root}", disable=not show, unit="file") as bar:
        for i in range(config.num_images):
            path, row = _make_image(media_root, config, i, int(image_labels[i]), image_formats[i])
            media.images.append(path)
            rows.append(row)
            bar.update()
        for i in range(config.num_videos):
            path, row = _make_video(media_root, config, i, int(video_labels[i]), bool(audio_flags[i]))
            media.videos.append(path)
            media.videos_with_audio += [path] if row["has_audio"] else []
            rows.append(row)
            bar.update()
        for j in range(config.num_corrupt):
            rng = _item_rng(config.seed, 3, j)
            kind = CORRUPT_KINDS[j % len(CORRUPT_KINDS)]
            relative = _corrupt_name(kind, 100 + config.num_images + config.num_videos + j, rng)
            media.expected_rejects.append(_write(media_root, relative, _corrupt_file(kind, rng)))
            rejects.append(dict(source=relative, modality="video" if kind.endswith("mp4") else "image", kind=kind))
            bar.update()
    pq.write_table(pa.Table.from_pylist(rows, schema=LABELS_SCHEMA), media.labels_file)
    pq.write_table(pa.Table.from_pylist(rejects, schema=EXPECTED_REJECTS_SCHEMA), media.expected_rejects_file)
    return media


def generate_media(
    out_dir: str | os.PathLike,
    *,
    num_images: int = 200,
    num_videos: int = 8,
    num_classes: int = 6,
    seed: int = 0,
    num_corrupt: int = 4,
    video_seconds: float | tuple[float, float] = (1.0, 3.0),
    **options,
) -> GeneratedMedia:
    """Generate a synthetic media folder; `options` are the other `SyntheticConfig` fields.

    `video_seconds` is a (shortest, longest) range, or one number for a fixed length.
    """
    if isinstance(video_seconds, (int, float)):
        video_seconds = (float(video_seconds), float(video_seconds))
    config = SyntheticConfig(
        num_images=num_images, num_videos=num_videos, num_classes=num_classes, num_corrupt=num_corrupt,
        seed=seed, video_seconds=tuple(video_seconds), **options,
    )  # fmt: skip
    return generate(out_dir, config)


def load_labels(root: str | os.PathLike, modality: str | None = None) -> pa.Table:
    """The labels of a generated folder (optionally one modality's rows)."""
    path = Path(root) / LABELS_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: {root} is not a generated media folder; "
            "create one with mmssl.data.synthetic.generate_media"
        )
    table = pq.read_table(path)
    if modality is not None:
        table = table.filter(pa.compute.equal(table["modality"], modality))
    return table


def load_expected_rejects(root: str | os.PathLike) -> pa.Table:
    """The corrupt files of a generated folder, with their kind."""
    return pq.read_table(Path(root) / EXPECTED_REJECTS_FILE)


def labels_by_source(root: str | os.PathLike, modality: str | None = None) -> dict[str, int]:
    """source (relative path) -> label: the join key for kNN checks against a prepared manifest."""
    table = load_labels(root, modality)
    return dict(zip(table["source"].to_pylist(), table["label"].to_pylist()))
