"""One audio track onto the prepared timeline: mono, placed by its timestamps, resampled, as FLAC.

Why placement matters: a prepared video's audio sample n must sound at n / rate seconds after the
prepared video's frame 0, or every "aligned" audio-visual pair is out of sync. Inputs rarely start
their streams together: stream start offsets (edited and camera files), edit lists, encoder delay
(AAC priming) and B-frame delay all shift one stream against the other. FFmpeg's decoders apply
edit lists and priming and stamp each decoded frame with its presentation time, so the track is
built from those times: audio that starts after the origin is preceded by silence, audio before
it is cut, and a gap in the timestamps becomes silence (an overlap is cut), all at the track's own
sample rate before resampling. Timestamps within `TIMESTAMP_SLACK_S` of where the samples already
written end are taken as contiguous (containers with millisecond time bases round them).

Downmix: ITU-R BS.775's mono proportions (centre 1, front left/right 1/sqrt(2), surround and
other channels 1/2, LFE 0), scaled to sum to 1 so the mix can never clip. These are FFmpeg's
default `-ac 1` coefficients for integer output: stereo becomes (L + R) / 2; 5.1 becomes
(0.7071 L + 0.7071 R + C + 0.5 Ls + 0.5 Rs) / 3.4142.
"""

from __future__ import annotations

import io
import math
from fractions import Fraction

import av
import numpy as np

from mmssl.data.rejection import Rejection

TIMESTAMP_SLACK_S = 0.001
_CENTRE, _FRONT, _LFE, _OTHER = 1.0, math.sqrt(0.5), 0.0, 0.5
_CHANNEL_GAINS = {"FC": _CENTRE, "FL": _FRONT, "FR": _FRONT, "FLC": _FRONT, "FRC": _FRONT, "LFE": _LFE, "LFE2": _LFE}
_INTEGER_SCALE = {np.dtype(np.uint8): 128.0, np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2.0 ** 31}


def downmix_weights(channel_names: list[str]) -> np.ndarray:
    """float64 [channels]: each channel's share of the mono mix (sums to 1)."""
    if len(channel_names) == 1:
        return np.ones(1)
    gains = np.array([_CHANNEL_GAINS.get(name, _OTHER) for name in channel_names], np.float64)
    if gains.sum() == 0:  # only LFE channels: keep them rather than write silence
        gains[:] = 1.0
    return gains / gains.sum()


def planar_float(frame: av.AudioFrame) -> np.ndarray:
    """float32 [channels, samples] in [-1, 1] from a decoded frame of any sample format."""
    channels = len(frame.layout.channels)
    array = frame.to_ndarray()
    if not frame.format.is_planar:
        array = array.reshape(-1, channels).T
    if array.dtype in _INTEGER_SCALE:
        offset = 128.0 if array.dtype == np.uint8 else 0.0
        return ((array.astype(np.float32) - offset) / _INTEGER_SCALE[array.dtype]).astype(np.float32)
    return array.astype(np.float32)


def mono(frame: av.AudioFrame) -> np.ndarray:
    """float32 [samples]: the frame downmixed with `downmix_weights`."""
    samples = planar_float(frame)
    weights = downmix_weights([channel.name for channel in frame.layout.channels])
    return (weights.astype(np.float32) @ samples) if samples.shape[0] > 1 else samples[0]


class AudioTrack:
    """Decoded audio frames in, mono FLAC at `sample_rate_hz` out, with sample 0 at `origin_s`.

    The origin (the input presentation time that becomes time 0) may be set after the first frames
    arrive (the video's first frame is decoded after some audio packets): frames are held until then.
    Frames at or past `max_duration_s` after the origin are dropped.
    """

    def __init__(self, sample_rate_hz: int, max_duration_s: float, origin_s: float | None = None):
        self.sample_rate_hz, self.max_duration_s = sample_rate_hz, max_duration_s
        self.origin_s = origin_s
        self.samples_written = 0  # at the output rate
        self._held: list[tuple[float | None, np.ndarray, int]] = []
        self._source_rate_hz: int | None = None
        self._placed = 0  # samples placed on the timeline, at the source rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate_hz)
        self._buffer = io.BytesIO()
        self._container = av.open(self._buffer, "w", format="flac")
        self._stream = self._container.add_stream("flac", rate=sample_rate_hz, layout="mono", format="s16")

    def set_origin(self, origin_s: float) -> None:
        self.origin_s = origin_s
        held, self._held = self._held, []
        for time_s, samples, rate_hz in held:
            self._place(time_s, samples, rate_hz)

    def push(self, frame: av.AudioFrame) -> None:
        if frame.samples == 0:
            return
        if self.origin_s is None:
            self._held.append((frame.time, mono(frame), frame.sample_rate))
        else:
            self._place(frame.time, mono(frame), frame.sample_rate)

    def finish(self) -> bytes | None:
        """FLAC bytes, or None when no sample landed on the timeline (then the sample has no audio)."""
        self._encode(None)
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._buffer.getvalue() if self.samples_written > 0 else None

    def _place(self, time_s: float | None, samples: np.ndarray, rate_hz: int) -> None:
        """Append `samples` where their timestamp says: silence before a late one, an early one cut."""
        if self._source_rate_hz is None:
            self._source_rate_hz = rate_hz
        elif rate_hz != self._source_rate_hz:
            raise Rejection("decode", f"audio sample rate changes mid-stream ({self._source_rate_hz} -> {rate_hz} Hz); "
                            "re-encode the audio at one rate")
        end = round(self.max_duration_s * rate_hz)
        target = self._placed if time_s is None else round((time_s - self.origin_s) * rate_hz)
        slack = round(TIMESTAMP_SLACK_S * rate_hz) + 1
        if target > self._placed + slack:  # starts late, or a gap: silence up to it
            self._emit(np.zeros(min(target, end) - self._placed, np.float32))
        elif target < self._placed - slack:  # starts before the origin, or overlaps: cut what is already covered
            samples = samples[self._placed - target:]
        self._emit(samples[: max(0, end - self._placed)])

    def _emit(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None]), format="flt", layout="mono")
        frame.sample_rate = self._source_rate_hz
        frame.pts, frame.time_base = self._placed, Fraction(1, self._source_rate_hz)
        self._placed += samples.size
        self._encode(frame)

    def _encode(self, frame: av.AudioFrame | None) -> None:
        for resampled in self._resampler.resample(frame):
            resampled.pts = self.samples_written
            resampled.time_base = Fraction(1, self.sample_rate_hz)
            self.samples_written += resampled.samples
            for packet in self._stream.encode(resampled):
                self._container.mux(packet)
