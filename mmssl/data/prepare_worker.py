"""Worker side of preparation: one input in, normalized members + manifest fields (or a refusal) out.

Runs inside Ray tasks (or in a child process for `--local`), so it must never raise: every failure becomes
an `Outcome` with a stage and a reason, and the driver records it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mmssl.data.media_kind import SNIFF_BYTES, sniff_media_kind
from mmssl.data.normalize_audio import normalize_audio
from mmssl.data.normalize_image import ImageConfig, normalize_image
from mmssl.data.normalize_video import NoVideoStream, VideoConfig, normalize_video
from mmssl.data.rejection import Rejection
from mmssl.data.sources import InputItem
from mmssl.data.store import is_uri, read_uri


@dataclass(frozen=True)
class Outcome:
    """The result for one input: `members` + `fields` when accepted, `stage` + `reason` when refused."""

    source: str
    members: dict[str, bytes] | None = None
    fields: dict | None = None
    stage: str | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.members is not None


def timed_out(item: InputItem, time_limit_s: float) -> Outcome:
    """The refusal of an input whose work ran past the time limit (Ray task or --local child alike)."""
    return Outcome(item.source, stage="worker", reason=f"worker timed out after {time_limit_s:g} s (a hanging decode or "
                   "read?); raise --task-timeout-s if inputs are just slow")


def process_batch(items: list[InputItem], image_config: ImageConfig, video_config: VideoConfig) -> list[Outcome]:
    """Outcomes for `items`, in the same order (the unit of work of one Ray task)."""
    return [process_item(item, image_config, video_config) for item in items]


def process_item(item: InputItem, image_config: ImageConfig, video_config: VideoConfig) -> Outcome:
    if item.rejection is not None:
        return Outcome(item.source, stage=item.rejection[0], reason=item.rejection[1])
    try:
        members, fields = _normalize(item, image_config, video_config)
    except Rejection as refusal:
        return Outcome(item.source, stage=refusal.stage, reason=refusal.reason)
    except MemoryError:
        return Outcome(item.source, stage="normalize", reason="out of memory while normalizing (input too large)")
    except Exception as err:  # a bug or a library failure on one odd file must not end the run
        return Outcome(item.source, stage="normalize", reason=f"internal error: {type(err).__name__}: {err}")
    return Outcome(item.source, members=members, fields={**fields, **(item.source_fields or {}), "source": item.source})


def _normalize(item: InputItem, image_config: ImageConfig, video_config: VideoConfig) -> tuple[dict, dict]:
    head = item.data[:SNIFF_BYTES] if item.data is not None else _read_head(item.path)
    kind, _container = sniff_media_kind(head)
    if kind == "image":
        data = item.data if item.data is not None else _read_all(item.path, image_config.max_file_bytes)
        image = normalize_image(data, image_config)
        return {"jpg": image.jpeg}, {"modality": "image", "width": image.width, "height": image.height}
    media = item.data if item.data is not None else item.path
    if isinstance(media, str) and is_uri(media):  # a video or sound on a store: decoded from memory
        media = read_uri(media)
    if kind == "audio":
        return _audio_only(media, video_config)
    try:
        video = normalize_video(media, video_config)
    except NoVideoStream:  # an m4a, an Ogg or WebM with sound only
        return _audio_only(media, video_config)
    members = {"mp4": video.mp4} | ({"flac": video.flac} if video.flac is not None else {})
    fields = {
        "modality": "video",
        "width": video.width,
        "height": video.height,
        "duration_s": video.duration_s,
        "fps": video.fps,
        "num_frames": video.num_frames,
        "has_audio": video.flac is not None,
        "audio_sample_rate_hz": video.audio_sample_rate_hz,
    }
    return members, fields


def _audio_only(media, video_config: VideoConfig) -> tuple[dict, dict]:
    """A sound file: a `flac` member and no `mp4` (audio families use it, video families leave it out)."""
    audio = normalize_audio(media, video_config)
    return {"flac": audio.flac}, {"modality": "audio", "duration_s": audio.duration_s, "has_audio": True,
                                  "audio_sample_rate_hz": audio.sample_rate_hz}


def _read_head(path: str) -> bytes:
    try:
        if is_uri(path):  # an input on an object store (--input s3://...)
            return read_uri(path, head_bytes=SNIFF_BYTES)
        with open(path, "rb") as f:
            return f.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise Rejection("read", "file missing") from None
    except OSError as err:
        raise Rejection("read", f"unreadable file: {err.strerror or err}") from None


def _read_all(path: str, max_bytes: int) -> bytes:
    """The whole file, refusing one over `max_bytes` before reading it (a 40 GB ".jpg" stays on disk)."""
    try:
        if is_uri(path):
            try:
                return read_uri(path, max_bytes=max_bytes)
            except ValueError as err:
                raise Rejection("read", f"absurd image file size: {err}") from None
        size = os.path.getsize(path)
        if size > max_bytes:
            raise Rejection("read", f"absurd image file size: {size} bytes (bound {max_bytes})")
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise Rejection("read", f"unreadable file: {err.strerror or err}") from None
