"""Sound files written with real encoders: a tone that switches pitch at known times, in any format."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

from fixtures_video import tone_at

TONES_HZ = (500.0, 2500.0)
SWITCHES_S = (0.6, 1.1)
SECONDS = 1.6

# container format, codec, sample rate, layout, sample format the encoder takes
FORMATS = {
    "wav": ("wav", "pcm_s16le", 44_100, "stereo", "s16"),
    "flac": ("flac", "flac", 48_000, "mono", "s16"),
    "mp3": ("mp3", "libmp3lame", 44_100, "stereo", "fltp"),
    "ogg": ("ogg", "libopus", 48_000, "stereo", "flt"),
    "m4a": ("ipod", "aac", 44_100, "stereo", "fltp"),
}


def sound_file(kind: str, seconds: float = SECONDS, tones_hz: tuple[float, float] = TONES_HZ,
               switches_s: tuple[float, ...] = SWITCHES_S) -> bytes:
    """`seconds` of a tone (amplitude 0.5) switching between `tones_hz` at `switches_s`, encoded as `kind`."""
    container_format, codec, rate, layout, sample_format = FORMATS[kind]
    t = np.arange(round(seconds * rate)) / rate
    which = np.searchsorted(np.asarray(switches_s, np.float64), t, side="right") % 2
    phase = 2 * np.pi * np.cumsum(np.asarray(tones_hz)[which]) / rate
    tone = 0.5 * np.sin(phase)
    channels = len(av.AudioLayout(layout).channels)
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        encode_planes(stream, container, np.repeat(tone[None], channels, axis=0), layout, sample_format)
    return buf.getvalue()


def encode_planes(stream, container, planes: np.ndarray, layout: str, sample_format: str) -> None:
    """Float [channels, samples] in [-1, 1] into an audio `stream`, a frame at a time, then flushed.
    `sample_format` is what the encoder takes: s16 / flt packed (interleaved) or s16p / fltp planar."""
    frame_size = stream.codec_context.frame_size or 4096
    for start in range(0, planes.shape[1], frame_size):
        chunk = planes[:, start : start + frame_size]
        if sample_format.startswith("s16"):
            chunk = np.round(np.clip(chunk, -1, 1) * 32767).astype(np.int16)
        else:
            chunk = chunk.astype(np.float32)
        if not sample_format.endswith("p"):  # packed: one row of interleaved samples
            chunk = chunk.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=sample_format, layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = stream.rate, start, Fraction(1, stream.rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def switch_times_s(samples: np.ndarray, rate_hz: int) -> list[float]:
    """Where the dominant tone changes, scanning 5 ms steps (windows that straddle a switch are skipped)."""
    found, previous = [], None
    for t in np.arange(0.02, len(samples) / rate_hz - 0.02, 0.005):
        try:
            tone = tone_at(samples, rate_hz, float(t), TONES_HZ)
        except ValueError:
            continue
        if previous is not None and tone != previous[1]:
            found.append((previous[0] + t) / 2)
        previous = (float(t), tone)
    return found
