"""Prepared datasets damaged after preparation, the way disks and partial copies damage them: bytes in
the middle of a member overwritten with noise, the tar and every header left intact."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from fixtures_video import prepared_video, write_video_dataset
from mmssl.data.member_checks import FULL_CHECKS, QUICK_CHECKS

DAMAGED_FLAC, DAMAGED_MP4 = 3, 8  # manifest indices in damaged_av_dataset
NUM_VIDEOS = 12


def overwrite_middle(payload: bytes, count: int, seed: int, start: int = 0, end: int | None = None) -> bytes:
    """`payload` with `count` bytes at the middle of payload[start:end] replaced by seeded noise (same length)."""
    end = len(payload) if end is None else end
    at = (start + end) // 2 - count // 2
    noise = np.random.default_rng(seed).integers(0, 256, count, dtype=np.uint8).tobytes()
    return payload[:at] + noise + payload[at + count :]


def mdat_range(mp4: bytes) -> tuple[int, int]:
    """Where an mp4's coded frames lie: the payload of its mdat box."""
    at = 0
    while at < len(mp4):
        size, kind = struct.unpack(">I4s", mp4[at : at + 8])
        if kind == b"mdat":
            return at + 8, at + size
        at += size
    raise ValueError("no mdat box")


def damaged_av_dataset(out_dir: Path, num_videos: int = NUM_VIDEOS) -> Path:
    """`num_videos` videos with sound (16 frames at 24 fps: one GOP, so every clip decodes the middle);
    video DAMAGED_FLAC has noise in the middle of its FLAC member, video DAMAGED_MP4 in the middle of
    its mp4's coded frames.
    Both pass the loader's structural check; only decoding finds them."""
    samples = []
    for i in range(num_videos):
        video = prepared_video(16, fps=24, width=96, height=64, audio_events_s=(0.2 + 0.03 * i,))
        members = {"mp4": video.mp4, "flac": video.flac}
        if i == DAMAGED_FLAC:
            members["flac"] = overwrite_middle(video.flac, 600, seed=i)
        if i == DAMAGED_MP4:
            members["mp4"] = overwrite_middle(video.mp4, 300, i, *mdat_range(video.mp4))  # in the coded frames
        samples.append(video if i not in (DAMAGED_FLAC, DAMAGED_MP4) else members)
    for ext, index in (("flac", DAMAGED_FLAC), ("mp4", DAMAGED_MP4)):
        damaged = samples[index][ext]
        assert QUICK_CHECKS[ext](damaged) is None and FULL_CHECKS[ext](damaged) is not None, (ext, index)
    return write_video_dataset(out_dir, samples)
