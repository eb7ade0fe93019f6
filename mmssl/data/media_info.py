"""Frame counts, rates and sizes read from mp4 and FLAC headers, without opening a decoder.

The loader plans which video frames and audio samples to decode for every sample it feeds. Opening
a decoder (PyAV, decord, DALI) just to learn the frame count costs milliseconds and differs between
the CPU and GPU paths; these parsers read a few header boxes with `struct` in microseconds and give
both paths the same numbers. Anything malformed or truncated raises `MediaInfoError`, never an
IndexError or struct.error, so the caller can skip the sample with a readable reason.

mp4 layout used (ISO/IEC 14496-12): moov > trak > tkhd (display size), mdia > hdlr (track kind),
mdia > mdhd (timescale), mdia > minf > stbl > stts (sample durations) and stsd (sample entries).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator


class MediaInfoError(ValueError):
    """A media header is missing, malformed or truncated; the message says which part."""


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    duration_s: float
    width: int
    height: int


@dataclass(frozen=True)
class AudioInfo:
    sample_rate_hz: int
    num_samples: int
    channels: int
    duration_s: float


# ---------------------------------------------------------------------------------------------- mp4

def video_info(mp4: bytes) -> VideoInfo:
    """Facts of the first video track of an mp4 (non-fragmented: sample tables in moov)."""
    moov = _only_child(mp4, 0, len(mp4), b"moov", "mp4")
    trak = _video_trak(mp4, moov)
    mdia = _child(mp4, trak, b"mdia", "moov/trak")
    stbl = _child(mp4, _child(mp4, mdia, b"minf", "moov/trak/mdia"), b"stbl", "moov/trak/mdia/minf")
    timescale = _mdhd_timescale(mp4, _child(mp4, mdia, b"mdhd", "moov/trak/mdia"))
    num_frames, frame_delta = _stts_frames(mp4, _child(mp4, stbl, b"stts", "moov/trak/mdia/minf/stbl"))
    width, height = _tkhd_size(mp4, _child(mp4, trak, b"tkhd", "moov/trak"))
    if width == 0 or height == 0:
        width, height = _stsd_size(mp4, _child(mp4, stbl, b"stsd", "moov/trak/mdia/minf/stbl"))
    fps = timescale / frame_delta
    return VideoInfo(num_frames=num_frames, fps=fps, duration_s=num_frames / fps, width=width, height=height)


def _boxes(data: bytes, start: int, end: int, where: str) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload_start, payload_end) of each box in data[start:end]; offsets, so mdat is never copied."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise MediaInfoError(f"truncated box header at offset {pos} in {where} ({end - pos} bytes left, need 8)")
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:  # 64-bit largesize follows the type
            if end - pos < 16:
                raise MediaInfoError(f"truncated 64-bit box header of {kind!r} at offset {pos} in {where}")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:  # box runs to the end of its parent
            size = end - pos
        if size < header:
            raise MediaInfoError(f"box {kind!r} at offset {pos} in {where} has impossible size {size}")
        if pos + size > end:
            raise MediaInfoError(f"box {kind!r} at offset {pos} in {where} claims {size} bytes but only "
                                 f"{end - pos} remain (truncated file?)")
        yield kind, pos + header, pos + size
        pos += size


def _only_child(data: bytes, start: int, end: int, kind: bytes, where: str) -> tuple[int, int]:
    """Payload range of the first `kind` box in data[start:end]; the whole range is walked, so truncation shows."""
    found = None
    for child_kind, child_start, child_end in _boxes(data, start, end, where):
        if child_kind == kind and found is None:
            found = (child_start, child_end)
    if found is None:
        raise MediaInfoError(f"no {kind.decode()} box in {where}")
    return found


def _child(data: bytes, parent: tuple[int, int], kind: bytes, where: str) -> tuple[int, int]:
    return _only_child(data, parent[0], parent[1], kind, where)


def _video_trak(data: bytes, moov: tuple[int, int]) -> tuple[int, int]:
    for kind, start, end in _boxes(data, *moov, "moov"):
        if kind != b"trak":
            continue
        mdia = _child(data, (start, end), b"mdia", "moov/trak")
        hdlr_start, hdlr_end = _child(data, mdia, b"hdlr", "moov/trak/mdia")
        if hdlr_end - hdlr_start >= 12 and data[hdlr_start + 8 : hdlr_start + 12] == b"vide":
            return start, end
    raise MediaInfoError("no video track (moov/trak with handler 'vide')")


def _full_box(data: bytes, box: tuple[int, int], need_v0: int, need_v1: int, name: str) -> int:
    """Version of a full box whose payload must hold `need_v0` / `need_v1` bytes for that version."""
    start, end = box
    if end - start < 4:
        raise MediaInfoError(f"{name} box too short ({end - start} bytes)")
    version = data[start]
    if version not in (0, 1):
        raise MediaInfoError(f"{name} box has unknown version {version}")
    need = need_v1 if version == 1 else need_v0
    if end - start < need:
        raise MediaInfoError(f"{name} box version {version} needs {need} bytes, has {end - start}")
    return version


def _mdhd_timescale(data: bytes, mdhd: tuple[int, int]) -> int:
    # v0: version/flags, creation, modification (32-bit), timescale, duration; v1: 64-bit times and duration
    version = _full_box(data, mdhd, 20, 32, "mdhd")
    (timescale,) = struct.unpack_from(">I", data, mdhd[0] + (20 if version == 1 else 12))
    if timescale == 0:
        raise MediaInfoError("mdhd timescale is 0 (corrupt video track header)")
    return timescale


def _stts_frames(data: bytes, stts: tuple[int, int]) -> tuple[int, int]:
    """(number of samples, sample delta of the entry covering the most samples)."""
    start, end = stts
    if end - start < 8:
        raise MediaInfoError(f"stts box too short ({end - start} bytes)")
    (entry_count,) = struct.unpack_from(">I", data, start + 4)
    if end - start < 8 + 8 * entry_count:
        raise MediaInfoError(f"stts box lists {entry_count} entries but holds only {(end - start - 8) // 8}")
    entries = [struct.unpack_from(">II", data, start + 8 + 8 * i) for i in range(entry_count)]
    num_frames = sum(count for count, _ in entries)
    if num_frames == 0:
        raise MediaInfoError("video track has no samples in stts (fragmented mp4? normalize it first)")
    _, frame_delta = max(entries, key=lambda entry: entry[0])
    if frame_delta == 0:
        raise MediaInfoError("stts sample delta is 0 (frame rate undefined)")
    return num_frames, frame_delta


def _tkhd_size(data: bytes, tkhd: tuple[int, int]) -> tuple[int, int]:
    # width and height are 16.16 fixed point, the last 8 bytes: offset 76 in v0 (84 bytes), 88 in v1 (96 bytes)
    version = _full_box(data, tkhd, 84, 96, "tkhd")
    width_fx, height_fx = struct.unpack_from(">II", data, tkhd[0] + (88 if version == 1 else 76))
    return width_fx >> 16, height_fx >> 16


def _stsd_size(data: bytes, stsd: tuple[int, int]) -> tuple[int, int]:
    """Width and height of the first visual sample entry (avc1, hvc1, ...)."""
    start, end = stsd
    if end - start < 8:
        raise MediaInfoError(f"stsd box too short ({end - start} bytes)")
    for kind, entry_start, entry_end in _boxes(data, start + 8, end, "stsd"):
        # VisualSampleEntry payload: reserved(6) data_reference_index(2) pre_defined(2) reserved(2)
        # pre_defined(12) width(2) height(2)
        if entry_end - entry_start < 28:
            raise MediaInfoError(f"sample entry {kind!r} too short for a visual sample entry")
        return struct.unpack_from(">HH", data, entry_start + 24)
    raise MediaInfoError("no frame size: tkhd says 0x0 and stsd has no sample entry")


# --------------------------------------------------------------------------------------------- FLAC

def flac_info(flac: bytes) -> AudioInfo:
    """Facts from the STREAMINFO block, which FLAC requires as the first metadata block."""
    if flac[:4] != b"fLaC":
        raise MediaInfoError(f"not a FLAC stream: magic is {bytes(flac[:4])!r}, expected b'fLaC'")
    if len(flac) < 8 + 34:
        raise MediaInfoError(f"FLAC truncated: {len(flac)} bytes, STREAMINFO needs 42")
    block_type = flac[4] & 0x7F
    block_length = int.from_bytes(flac[5:8], "big")
    if block_type != 0 or block_length < 34:
        raise MediaInfoError(f"first FLAC metadata block is type {block_type}, length {block_length}; "
                             "expected STREAMINFO (type 0, 34 bytes)")
    # after min/max block size (16+16 bits) and min/max frame size (24+24 bits): one 64-bit field of
    # sample rate (20), channels - 1 (3), bits per sample - 1 (5), total samples (36)
    (packed,) = struct.unpack_from(">Q", flac, 8 + 10)
    sample_rate_hz = packed >> 44
    channels = ((packed >> 41) & 0x7) + 1
    num_samples = packed & ((1 << 36) - 1)
    if sample_rate_hz == 0:
        raise MediaInfoError("FLAC STREAMINFO sample rate is 0 (invalid stream)")
    if num_samples == 0:
        raise MediaInfoError("FLAC STREAMINFO total samples is 0 (unknown length: the writer never "
                             "sealed the header); re-encode the audio")
    return AudioInfo(sample_rate_hz=sample_rate_hz, num_samples=num_samples, channels=channels,
                     duration_s=num_samples / sample_rate_hz)
