"""Generated demo datasets, so the profiler runs with no data at hand: photo-like JPEGs, or panning
videos with sound prepared as preparation prepares them.

Photo-like, not flat: smooth colour fields, soft shapes and sensor noise compress like a photo, so
decode costs are realistic. Videos: a camera panning over such a scene with noise (H.264 + AAC),
then `normalize_video` at the requested keyframe interval (GOP) and a mono FLAC track. The same raw
videos can be prepared at several GOPs, so a GOP comparison decodes the same content.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

VIDEO_SECONDS, VIDEO_FPS, VIDEO_SIZE_PX = 8, 24, (320, 240)
AUDIO_RATE_HZ = 44_100  # the generated AAC track's; preparation makes it 16 kHz mono FLAC
IMAGE_LONG_SIDE_PX = 500


def photo_like(rng: np.random.Generator, long_side_px: int = IMAGE_LONG_SIDE_PX) -> np.ndarray:
    """uint8 HxWx3 with smooth colour fields, a few soft shapes and sensor-like noise."""
    width, height = long_side_px, int(long_side_px * rng.choice([0.75, 0.667, 1.0, 0.5625]))
    if rng.random() < 0.3:
        width, height = height, width
    coarse = rng.integers(0, 256, size=(rng.integers(3, 9), rng.integers(3, 9), 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(3, 12)):
        x, y = rng.integers(0, width), rng.integers(0, height)
        r = rng.integers(10, long_side_px // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    pixels = np.asarray(image).astype(np.int16) + rng.normal(0, 6, size=(height, width, 3)).astype(np.int16)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def photo_jpegs(num_images: int, seed) -> list[tuple[bytes, int, int]]:
    """(JPEG bytes at quality 90, width, height) of `num_images` photo-like images drawn from `seed`."""
    rng = np.random.default_rng(seed)
    jpegs = []
    for _ in range(num_images):
        pixels = photo_like(rng)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=90)
        jpegs.append((buf.getvalue(), pixels.shape[1], pixels.shape[0]))
    return jpegs


def generate_image_dataset(out_dir: Path, num_images: int, seed: int = 0, copies: int = 1, processes: int = 1) -> Path:
    """A prepared dataset of `num_images` photo-like JPEGs, each stored `copies` times (so a fast loader's timed
    batches fall inside one epoch), drawn in `processes` processes (see `in_chunks`)."""
    from mmssl.data.dataset_writer import DatasetWriter

    photos = in_chunks(photo_jpegs, num_images, seed, processes)
    with DatasetWriter(out_dir, shard_bytes=16 << 20) as writer:
        for _ in range(copies):
            for i, (jpeg, width, height) in enumerate(photos):
                writer.add({"jpg": jpeg}, {"modality": "image", "source": f"generated/{i}.jpg", "width": width,
                                           "height": height})
    return out_dir


def in_chunks(make, count: int, seed: int, processes: int) -> list:
    """`make(count, seed)` in one process; with more, `processes` chunks made side by side in forked processes,
    chunk k drawn from seed (seed, k): other items than one process draws, as random and as reproducible."""
    if processes <= 1 or count <= 1:
        return make(count, seed)
    chunks = min(processes, count)
    sizes = [count // chunks + (k < count % chunks) for k in range(chunks)]
    return [item for part in parallel_map(_call, [(make, size, (seed, k)) for k, size in enumerate(sizes)], chunks)
            for item in part]


def parallel_map(function, items: list, processes: int) -> list:
    """`[function(item) for item in items]`, in a pool of forked processes when `processes` > 1."""
    if processes <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(min(processes, len(items))) as pool:
        return pool.map(function, items)


def _call(job: tuple):
    make, count, seed = job
    return make(count, seed)


def panning_video(rng: np.random.Generator) -> bytes:
    """An mp4 as a camera would make it (libx264's default keyframe interval, up to 250 frames; AAC):
    a slow pan over a photo-like scene with sensor noise, and a noisy tone."""
    width, height = VIDEO_SIZE_PX
    scene = photo_like(rng, 2 * width)
    while scene.shape[0] < height + 40:  # a wide draw: mirror it below itself until it is tall enough to pan
        scene = np.concatenate([scene, scene[::-1]])
    room = np.array([scene.shape[0] - height, scene.shape[1] - width])
    velocity = rng.uniform(-0.5, 0.5, size=2) * room / (VIDEO_SECONDS * VIDEO_FPS)
    noise = [rng.integers(-4, 5, size=(height, width, 3), dtype=np.int16) for _ in range(7)]
    t = np.arange(VIDEO_SECONDS * AUDIO_RATE_HZ) / AUDIO_RATE_HZ
    tone_hz = rng.uniform(200, 800)
    sound = (0.3 * np.sin(2 * np.pi * tone_hz * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=VIDEO_FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {"preset": "veryfast", "crf": "20"}
        audio = container.add_stream("aac", rate=AUDIO_RATE_HZ, layout="mono")  # every stream before the first packet
        for i in range(VIDEO_SECONDS * VIDEO_FPS):
            y, x = (room / 2 + velocity * i).clip(0, room).astype(int)
            pixels = (scene[y : y + height, x : x + width] + noise[i % len(noise)]).clip(0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, VIDEO_FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, t.size, 1024):
            frame = av.AudioFrame.from_ndarray(sound[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE_HZ, start, Fraction(1, AUDIO_RATE_HZ)
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return buf.getvalue()


def raw_videos(num_videos: int, seed=0, processes: int = 1) -> list[bytes]:
    """The camera-like source videos (in `processes` processes, see `in_chunks`); prepare them at any GOP with
    `write_video_dataset`."""
    return in_chunks(_panning_videos, num_videos, seed, processes)


def _panning_videos(num_videos: int, seed) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [panning_video(rng) for _ in range(num_videos)]


@dataclass(frozen=True)
class VideoDataset:
    path: Path
    gop_frames: int
    mean_mp4_kb: float  # what the GOP costs on disk


def write_video_dataset(out_dir: Path, raw: list[bytes], gop_frames: int, copies: int,
                        processes: int = 1) -> VideoDataset:
    """`raw` prepared as preparation does (GOP `gop_frames`, FLAC; in `processes` processes), each stored
    `copies` times, so the timed batches fall inside one epoch (a DataLoader idles at every epoch's end; a
    long real dataset hides that)."""
    from functools import partial

    from mmssl.data.dataset_writer import DatasetWriter
    from mmssl.data.normalize_video import VideoConfig, normalize_video

    prepared = parallel_map(partial(normalize_video, config=VideoConfig(gop_frames=gop_frames)), raw, processes)
    with DatasetWriter(out_dir, shard_bytes=64 << 20) as writer:
        for _ in range(copies):
            for i, video in enumerate(prepared):
                writer.add({"mp4": video.mp4, "flac": video.flac}, {
                    "modality": "video", "source": f"generated/{i}.mp4", "width": video.width,
                    "height": video.height, "fps": video.fps, "num_frames": video.num_frames,
                    "duration_s": video.duration_s, "audio_sample_rate_hz": video.audio_sample_rate_hz,
                    "has_audio": True})
    return VideoDataset(out_dir, gop_frames, sum(len(v.mp4) for v in prepared) / len(prepared) / 1000)
