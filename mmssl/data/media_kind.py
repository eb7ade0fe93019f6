"""Tells images, videos and sound files apart by their leading bytes, never by file name.

Containers that may hold either pictures or only sound (mp4 / m4a, Matroska / WebM, Ogg) are
"video" here; the video probe finds out, and an input with sound but no picture becomes an
audio-only sample (see prepare_worker.py)."""

from __future__ import annotations

from mmssl.data.rejection import Rejection

SNIFF_BYTES = 512  # enough for every signature below (MPEG-TS needs 189)

_IMAGE_SIGNATURES = (
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"BM", "bmp"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
)
_VIDEO_SIGNATURES = (
    (0, b"\x1a\x45\xdf\xa3", "matroska"),  # mkv / webm
    (0, b"FLV", "flv"),
    (0, b"\x00\x00\x01\xba", "mpeg-ps"),
    (0, b"\x30\x26\xb2\x75", "asf"),  # wmv
    (0, b"OggS", "ogg"),  # may be audio only: the probe decides
)
_AUDIO_SIGNATURES = ((0, b"ID3", "mp3"), (0, b"fLaC", "flac"))
_ISO_IMAGE_BRANDS = (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif", b"avis")
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")


def _match(head: bytes, signatures) -> str | None:
    for offset, magic, name in signatures:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def _is_mpeg_audio_sync(head: bytes) -> bool:
    """An MPEG audio (mp3) or ADTS (AAC) frame header at the start: 11 sync bits, then a valid layer."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    layer = (head[1] >> 1) & 0x3
    return layer != 0 or head[1] & 0xF0 == 0xF0  # mp3: layers 1-3; ADTS: layer 0 and 12 sync bits


def sniff_media_kind(head: bytes) -> tuple[str, str]:
    """("image" | "video" | "audio", container name) for the first bytes of a file; raises Rejection otherwise."""
    if not head:
        raise Rejection("read", "empty file (0 bytes)")
    if image := _match(head, _IMAGE_SIGNATURES):
        return "image", image
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "avi"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "wav"
    if head[4:8] in _ISO_BOXES:
        brand = head[8:12]
        if head[4:8] == b"ftyp" and brand in _ISO_IMAGE_BRANDS:
            raise Rejection("probe", f"unsupported image format ({brand.decode()} / HEIF); convert it to JPEG or PNG")
        return "video", "iso-bmff"  # mp4, mov, 3gp, m4a (an audio-only one fails the probe)
    if video := _match(head, _VIDEO_SIGNATURES):
        return "video", video
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video", "mpeg-ts"
    if audio := _match(head, _AUDIO_SIGNATURES):
        return "audio", audio
    if _is_mpeg_audio_sync(head):
        return "audio", "mpeg-audio"
    raise Rejection("probe", "not a media file (content matches no image or video format)")
