"""Is a shard member decodable? A cheap structural check per modality, and a full decode check.

The loader's sample source runs the cheap check on every member it feeds (microseconds: it reads a
few bytes of structure), so truncated or garbage members are skipped before they reach the DALI
graph. The full check decodes the whole member on the CPU; the loader runs it only on the members a
batch that DALI failed to decode read, to find which one it was. It must fail wherever DALI can: a
FLAC with a damaged frame still "decodes" with FFmpeg, which resyncs at the next frame and drops the
rest of the bad one, while DALI's decoder stops ("Requested N samples but got M"); so the FLAC check
counts the decoded samples against STREAMINFO's total and compares their MD5 with STREAMINFO's.
The mp4 check decodes every frame the plan could ask for: as many as the sample table lists. Both are pure functions of the bytes,
so every rank, every restart and every worker process takes the same decision for a sample.
Each returns None for a good member, or the reason it is bad.
"""

from __future__ import annotations

import hashlib
import io
import struct
from typing import Callable

import numpy as np

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
        return f"JPEG does not decode: {_decode_error(error)}"
    return None


def full_mp4(payload: bytes) -> str | None:
    """Every frame decodes, and there are as many as the sample table lists (frames the plan may ask for)."""
    import av

    from mmssl.data.media_info import MediaInfoError, video_info

    if reason := quick_mp4(payload):
        return reason
    try:
        listed = video_info(payload).num_frames
    except MediaInfoError as error:
        return f"corrupt MP4 header: {error}"
    try:
        with av.open(io.BytesIO(payload)) as container:
            if not container.streams.video:
                return "no video stream"
            decoded = sum(1 for _ in container.decode(container.streams.video[0]))
    except Exception as error:  # noqa: BLE001  any decode failure makes the member bad
        return f"video does not decode: {_decode_error(error)}"
    return None if decoded == listed else f"video decodes to {decoded} frames, its sample table lists {listed}"


def full_flac(payload: bytes) -> str | None:
    """Every frame decodes: the sample count and the MD5 of the samples match STREAMINFO."""
    import av

    if reason := quick_flac(payload):
        return reason
    packed, md5 = int.from_bytes(payload[18:26], "big"), payload[26:42]  # STREAMINFO after 8 header bytes
    bits, channels, total = ((packed >> 36) & 0x1F) + 1, ((packed >> 41) & 0x7) + 1, packed & ((1 << 36) - 1)
    try:
        with av.open(io.BytesIO(payload)) as container:
            frames = [frame.to_ndarray() for frame in container.decode(container.streams.audio[0])]
    except Exception as error:  # noqa: BLE001
        return f"audio does not decode: {_decode_error(error)}"
    # planar [channels, n] per frame, or packed [1, n * channels]: interleaved samples, in order
    samples = np.concatenate([f.T.reshape(-1) if f.shape[0] == channels else f.reshape(-1) for f in frames]) \
        if frames else np.zeros(0, np.int16)
    count = samples.size // channels
    if total and count != total:
        return f"audio decodes to {count} samples, STREAMINFO says {total} (a damaged frame)"
    if any(md5) and hashlib.md5(_pcm_bytes(samples, bits)).digest() != md5:
        return "audio does not match its STREAMINFO MD5 (damaged samples)"
    return None


def _pcm_bytes(samples: np.ndarray, bits: int) -> bytes:
    """Interleaved little-endian PCM at `bits` per sample, as FLAC's MD5 is computed over."""
    if samples.dtype == np.int16 and bits == 16:
        return samples.astype("<i2", copy=False).tobytes()
    if samples.dtype == np.int32 and bits <= 24:  # FFmpeg holds 17..24-bit FLAC in the top bits of an int32
        samples = samples >> (32 - bits)
    width = (bits + 7) // 8
    wide = np.ascontiguousarray(samples, dtype="<i4").view(np.uint8).reshape(-1, 4)
    return wide[:, :width].tobytes()


def _decode_error(error: Exception) -> str:
    """FFmpeg's words for a decode failure ("Invalid data found when processing input"), no errno or call."""
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


QUICK_CHECKS: dict[str, Callable[[bytes], str | None]] = {"jpg": quick_jpeg, "mp4": quick_mp4, "flac": quick_flac}
FULL_CHECKS: dict[str, Callable[[bytes], str | None]] = {"jpg": full_jpeg, "mp4": full_mp4, "flac": full_flac}
