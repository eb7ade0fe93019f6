"""Tiny generated media for the ingest tests: images in every mode/format, short videos, broken files."""

from __future__ import annotations

import io
import tarfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from fixtures_sound import sound_file


def quadrant_pixels(width: int = 64, height: int = 48) -> np.ndarray:
    """RGB with a red top-left quadrant on blue, so any rotation or flip is visible."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 2] = 255
    pixels[: height // 2, : width // 2] = (255, 0, 0)
    return pixels


def encode_image(pixels: np.ndarray | Image.Image, fmt: str = "JPEG", **save_args) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buf = io.BytesIO()
    image.save(buf, fmt, **save_args)
    return buf.getvalue()


def jpeg_with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode_image(pixels, "JPEG", quality=95, exif=exif.tobytes())


def make_video(
    width: int = 96,
    height: int = 64,
    seconds: float = 1.0,
    fps: int = 24,
    audio: bool = True,
    rotation: int = 0,
    frame_times_s: list[float] | None = None,
    audio_rate_hz: int = 44_100,
) -> bytes:
    """An mp4 whose frame i has a bright bar at column i (for order checks); stereo 440 Hz AAC.

    `frame_times_s` gives variable frame timing (VFR input); `rotation` sets display-matrix metadata."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"x264-params": "keyint=250"}
        if frame_times_s is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        audio_stream = container.add_stream("aac", rate=audio_rate_hz, layout="stereo") if audio else None
        times = frame_times_s if frame_times_s is not None else [i / fps for i in range(int(seconds * fps))]
        for i, t in enumerate(times):
            pixels = quadrant_pixels(width, height)
            pixels[:, i % width] = 255
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if frame_times_s is not None:
                frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio_stream is not None:
            _write_tone(container, audio_stream, seconds, audio_rate_hz)
    return buf.getvalue()


def make_audio_only_mp4(seconds: float = 1.0) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        _write_tone(container, container.add_stream("aac", rate=44_100, layout="stereo"), seconds, 44_100)
    return buf.getvalue()


def _write_tone(container, stream, seconds: float, rate_hz: int) -> None:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    samples = np.stack([np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    for start in range(0, samples.shape[1], 1024):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start : start + 1024]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate_hz, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


# name -> (bytes, expected outcome: "image" / "video" / "audio" / the rejection reason's leading words)
def mixed_media() -> dict[str, tuple[bytes, str]]:
    good_jpeg = encode_image(quadrant_pixels(), "JPEG", quality=95)
    video = make_video(seconds=1.0)
    return {
        "a/photo.jpg": (good_jpeg, "image"),
        "a/graphic.PNG": (encode_image(quadrant_pixels(), "PNG"), "image"),
        "b/no_extension": (encode_image(quadrant_pixels(), "WEBP", lossless=True), "image"),
        "b/clip.mp4": (video, "video"),
        "b/silent.mov": (make_video(seconds=1.0, audio=False), "video"),
        "c/truncated.jpg": (good_jpeg[: len(good_jpeg) // 2], "truncated JPEG"),
        "c/empty.jpg": (b"", "empty file"),
        "c/notes.jpg": (b"just some text, not a picture\n" * 4, "not a media file"),
        "c/truncated.mp4": (video[: len(video) // 3], "unreadable video container"),
        "c/song.m4a": (make_audio_only_mp4(), "audio"),
        "d/birdsong.wav": (sound_file("wav"), "audio"),
        "d/chirp": (sound_file("mp3"), "audio"),  # no extension: found by content
    }


@pytest.fixture(scope="session")
def mixed_media_dir(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder of good and broken files; returns (folder, {relative path: expected outcome})."""
    root = tmp_path_factory.mktemp("mixed_media")
    expected = {}
    for name, (payload, outcome) in mixed_media().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(payload)
        expected[name] = outcome
    return root, expected


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the session (2 CPUs, no dashboard), shut down at the end."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


def yfcc_line(photo_id: str, ext: str, marker: str, number: int) -> str:
    """A YFCC100M metadata row (24 fields: line number, then the Webscope file's 23)."""
    core = [photo_id, "u@N00", "nick", "2012-01-01 00:00:00.0", "1331840483", "", "title", "", "", "", "", "", "",
            f"http://www.flickr.com/photos/u/{photo_id}/", f"http://farm1.staticflickr.com/1/{photo_id}_s.{ext}",
            "Attribution License", "http://creativecommons.org/licenses/by/2.0/", "1", "1", "s", "o", ext, marker]
    return "\t".join([str(number)] + core)
