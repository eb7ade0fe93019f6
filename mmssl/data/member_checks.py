"""Is a shard member decodable? A cheap structural check per modality, and a full decode check.

The loader's sample source runs the cheap check on every member it feeds (microseconds: it reads a
few bytes of structure), so truncated or garbage members are skipped before they reach the DALI
graph. The full check decodes the member on the CPU; the loader runs it only on the samples of a
batch that DALI failed to decode, to find which one it was. Both are pure functions of the bytes,
so every rank, every restart and every worker process takes the same decision for a sample.
Each returns None for a good member, or the reason it is bad.
"""

from __future__ import annotations

import io
import struct
from typing import Callable

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
FLAC_MAGIC = b"fLaC"
_MP4_REQUIRED_BOXES = {b"moov", b"mdat"}


def quick_jpeg(payload: bytes) -> str | None:
    """Start and end markers: catches truncation and non-JPEG bytes (prepared JPEGs end with EOI)."""
    if len(payload) < 4 or payload[:2] != JPEG_START:
        return "not a JPEG (no start-of-image marker)"
    if payload[-2:] != JPEG_END:
        return "truncated JPEG (no end-of-image marker)"
    return None


def quick_mp4(payload: bytes) -> str | None:
    """Walk the top-level ISO-BMFF boxes: their sizes must tile the bytes exactly, with moov and mdat."""
    at, seen = 0, set()
    while at < len(payload):
        if at + 8 > len(payload):
            return f"truncated MP4 (a box header is cut at byte {at})"
        size, kind = struct.unpack(">I4s", payload[at : at + 8])
        if size == 1:  # 64-bit size follows the type
            if at + 16 > len(payload):
                return f"truncated MP4 (a box header is cut at byte {at})"
            size = struct.unpack(">Q", payload[at + 8 : at + 16])[0]
        elif size == 0:  # box runs to the end of the file
            size = len(payload) - at
        if size < 8:
            return f"corrupt MP4 (box of size {size} at byte {at})"
        if at + size > len(payload):
            return f"truncated MP4 (box {kind!r} needs {at + size} bytes, the member has {len(payload)})"
        seen.add(kind)
        at += size
    missing = _MP4_REQUIRED_BOXES - seen
    return f"corrupt MP4 (no {b', '.join(sorted(missing)).decode(errors='replace')} box)" if missing else None


def quick_flac(payload: bytes) -> str | None:
    """The fLaC magic and a STREAMINFO block of the right size with a non-zero sample rate."""
    if payload[:4] != FLAC_MAGIC:
        return "not a FLAC stream (no fLaC magic)"
    if len(payload) < 42:
        return "truncated FLAC (no complete STREAMINFO block)"
    block_type, length = payload[4] & 0x7F, int.from_bytes(payload[5:8], "big")
    if block_type != 0 or length != 34:
        return "corrupt FLAC (the first metadata block is not STREAMINFO)"
    sample_rate_hz = int.from_bytes(payload[18:21], "big") >> 4
    return None if sample_rate_hz > 0 else "corrupt FLAC (sample rate 0)"


def full_jpeg(payload: bytes) -> str | None:
    from PIL import Image

    if reason := quick_jpeg(payload):
        return reason
    try:
        with Image.open(io.BytesIO(payload)) as image:
            image.convert("RGB").load()
    except Exception as error:  # noqa: BLE001  any decode failure makes the member bad
        return f"JPEG does not decode: {error}"
    return None


def _full_av(payload: bytes, stream: str) -> str | None:
    import av

    try:
        with av.open(io.BytesIO(payload)) as container:
            streams = getattr(container.streams, stream)
            if not streams:
                return f"no {stream} stream"
            decoded = sum(1 for _ in container.decode(streams[0]))
    except Exception as error:  # noqa: BLE001
        return f"{stream} does not decode: {error}"
    return None if decoded else f"{stream} stream has no decodable frames"


def full_mp4(payload: bytes) -> str | None:
    return quick_mp4(payload) or _full_av(payload, "video")


def full_flac(payload: bytes) -> str | None:
    return quick_flac(payload) or _full_av(payload, "audio")


QUICK_CHECKS: dict[str, Callable[[bytes], str | None]] = {"jpg": quick_jpeg, "mp4": quick_mp4, "flac": quick_flac}
FULL_CHECKS: dict[str, Callable[[bytes], str | None]] = {"jpg": full_jpeg, "mp4": full_mp4, "flac": full_flac}
