"""Audio-only files (WAV, FLAC, MP3, Ogg Vorbis / Opus, M4A / AAC) to the loaders' audio member.

Sound collections (ESC-50, AudioSet clips, field recordings) come without pictures. They become
samples with a `flac` member and no `mp4`: the `audio` family and audio probes read them, and the
plan leaves them out of every family that needs video (as image families leave out videos). The
audio goes through the same track builder as a video's sound (audio_track.py: mono downmix, placed
by its timestamps, one sample rate), with time 0 at the first decoded sample, so a leading stream
offset or encoder delay does not become silence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mmssl.data.audio_track import AudioTrack
from mmssl.data.normalize_video import VideoConfig, decoded_packets, open_media
from mmssl.data.rejection import Rejection


@dataclass(frozen=True)
class NormalizedAudio:
    flac: bytes
    sample_rate_hz: int
    num_samples: int
    duration_s: float
    source_channels: int


def normalize_audio(media: str | os.PathLike | bytes, config: VideoConfig = VideoConfig()) -> NormalizedAudio:
    """Mono FLAC at `config.audio_sample_rate_hz`, at most `config.max_duration_s` long; raises Rejection."""
    with open_media(media, "audio file") as container:
        if not container.streams.audio:
            raise Rejection("probe", "no video or audio stream")
        audio_in = container.streams.audio[0]
        track = AudioTrack(config.audio_sample_rate_hz, config.max_duration_s)
        for _, frames in decoded_packets(container, [audio_in], "audio"):
            for frame in frames:
                if track.origin_s is None:
                    track.set_origin(frame.time if frame.time is not None else 0.0)
                track.push(frame)
        channels = audio_in.codec_context.channels
    flac = track.finish()
    if flac is None:
        raise Rejection("decode", "no decodable audio samples")
    return NormalizedAudio(flac=flac, sample_rate_hz=config.audio_sample_rate_hz, num_samples=track.samples_written,
                           duration_s=track.samples_written / config.audio_sample_rate_hz, source_channels=channels)
