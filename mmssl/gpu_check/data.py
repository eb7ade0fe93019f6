"""The check's data, generated where it runs (the GPU machine has no network and no datasets):
photo-like JPEGs for the image pipelines and PIRL, panning videos with sound prepared as preparation
prepares them (GOP 16, FLAC) for the video and audio pipelines and audio-visual correspondence.

Each distinct sample is stored several times, so a fast loader's timed batches stay inside one
epoch; generation runs in one process per core.
"""

from __future__ import annotations

import os
from pathlib import Path

from mmssl.bench import demo_data
from mmssl.bench.profile import DEFAULT_GOP


def generate(recorder, sizes, root: Path) -> None:
    processes = os.cpu_count() or 1
    images = demo_data.generate_image_dataset(root / "images", sizes.images, seed=0, copies=sizes.image_copies,
                                              processes=processes)
    recorder.record(images={"path": str(images), "distinct": sizes.images, "copies": sizes.image_copies,
                            "long_side_px": demo_data.IMAGE_LONG_SIDE_PX})
    raw = demo_data.raw_videos(sizes.videos, seed=0, processes=processes)
    made = demo_data.write_video_dataset(root / "videos", raw, DEFAULT_GOP, sizes.video_copies, processes=processes)
    width, height = demo_data.VIDEO_SIZE_PX
    recorder.record(videos={"path": str(made.path), "distinct": sizes.videos, "copies": sizes.video_copies,
                            "gop_frames": made.gop_frames, "mean_mp4_kb": made.mean_mp4_kb,
                            "seconds": demo_data.VIDEO_SECONDS, "size_px": [width, height], "fps": demo_data.VIDEO_FPS})
