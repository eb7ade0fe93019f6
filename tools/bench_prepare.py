"""Preparation throughput on this machine: generate images and videos, prepare each set, print files/s.

    python tools/bench_prepare.py --images 400 --videos 40 [--workers 2] [--local]

Inputs are generated with PIL/PyAV (photos 1024x768 JPEG; videos 640x360, 5 s, 30 fps, AAC stereo)
into a temporary folder; each modality is prepared separately so each gets its own rate.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from mmssl.data.prepare import PrepareConfig, prepare
from mmssl.data.sources import FolderSource


def photo(seed: int, width: int = 1024, height: int = 768) -> bytes:
    """A smooth gradient plus noise: compresses like a photo, not like a flat test card."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + rng.integers(0, 128)], -1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def video(seed: int, width: int = 640, height: int = 360, seconds: float = 5.0, fps: int = 30) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast"}
        audio = container.add_stream("aac", rate=44_100, layout="stereo")
        blocks = rng.integers(0, 256, size=(height // 40 + 1, width // 40 + 1, 3), dtype=np.uint8)
        background = np.kron(blocks, np.ones((40, 40, 1), np.uint8))[:height, :width]  # coarse scene
        for i in range(int(seconds * fps)):
            frame = np.roll(background, 4 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        tone = np.sin(2 * np.pi * 440 * np.arange(int(seconds * 44_100)) / 44_100).astype(np.float32)
        for start in range(0, tone.size, 1024):
            chunk = np.ascontiguousarray(np.stack([tone[start : start + 1024]] * 2))
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 44_100, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return buf.getvalue()


def run(name: str, folder: Path, out: Path, args) -> None:
    config = PrepareConfig(output_dir=str(out), workers=args.workers, local=args.local, progress=False)
    started = time.perf_counter()
    summary = prepare(FolderSource(str(folder)), config)
    elapsed_s = time.perf_counter() - started
    mode = "in-process" if args.local else f"Ray, {args.workers or 'all CPUs as'} workers"
    print(f"{name}: {summary['inputs']} files in {elapsed_s:.1f} s = {summary['inputs'] / elapsed_s:.1f} files/s "
          f"({mode}; "
          f"accepted {summary['accepted']}, {summary['bytes'] / 1e6:.1f} MB written)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--local", action="store_true", help="prepare in-process instead of through Ray")
    args = parser.parse_args()
    if not args.local:  # start Ray once, outside the timed runs (a real run pays this once: 3-5 s)
        import os

        import ray

        started = time.perf_counter()
        ray.init(num_cpus=args.workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
        print(f"ray.init: {time.perf_counter() - started:.1f} s (not counted below)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, count, make, ext in (("image", args.images, photo, "jpg"), ("video", args.videos, video, "mp4")):
            if count == 0:
                continue
            folder = tmp / f"{name}s"
            folder.mkdir()
            for i in range(count):
                (folder / f"{i:06d}.{ext}").write_bytes(make(i))
            run(name, folder, tmp / f"{name}-out", args)


if __name__ == "__main__":
    main()
