"""Preparation keeps presentation timing: prepared audio time 0 is prepared video time 0.

Each case is made with real encoders and stream copies, and checked from content against the input
decoded with PyAV: a real film trailer whose audio starts 0.5 s late or early, a variable-frame-rate
file made by dropping and jittering frames, and 5.1 sound downmixed with the documented matrix.
"""

import io
import math
from fractions import Fraction

import av
import numpy as np
import pytest

from fixtures_real_media import real_clip, stream_copy
from fixtures_sound import encode_planes
from fixtures_video import coded_frame, decoded_audio, decoded_frames, read_frame_number
from mmssl.data.audio_track import downmix_weights
from mmssl.data.normalize_video import VideoConfig, normalize_video

RATE_HZ = 16_000


def best_lag(reference: np.ndarray, signal: np.ndarray) -> int:
    """Samples by which `signal` lags `reference` (positive: later), by FFT cross-correlation."""
    size = 1 << (len(reference) + len(signal)).bit_length()
    correlation = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(reference, size)), size)
    lag = int(np.argmax(correlation))
    return lag if lag < size // 2 else lag - size


@pytest.fixture(scope="module")
def trailer() -> bytes:
    return real_clip("bigbuckbunny.mp4")


@pytest.fixture(scope="module")
def trailer_prepared(trailer):
    return normalize_video(trailer)


@pytest.mark.parametrize("audio_offset_s, video_offset_s", [(0.5, 0.0), (0.0, 0.5)], ids=["audio-late", "audio-early"])
def test_a_stream_start_offset_survives_preparation(trailer, trailer_prepared, audio_offset_s, video_offset_s):
    """Audio starting 0.5 s after the video is preceded by 0.5 s of silence; audio starting 0.5 s
    before it loses its first 0.5 s. The pictures are the same frames either way."""
    shifted = normalize_video(stream_copy(trailer, audio_offset_s=audio_offset_s, video_offset_s=video_offset_s))
    reference, rate = decoded_audio(trailer_prepared.flac)
    audio, _ = decoded_audio(shifted.flac)
    expected_lag = round((audio_offset_s - video_offset_s) * rate)
    assert abs(best_lag(reference, audio) - expected_lag) <= 1
    assert len(audio) == len(reference) + expected_lag
    if expected_lag > 0:
        assert np.abs(audio[: expected_lag - 1]).max() == 0.0  # padded with silence
    # past the resampler's first few samples, the same sound sample for sample
    same, original = (audio[expected_lag:], reference) if expected_lag > 0 else (audio, reference[-expected_lag:])
    assert np.abs(same[64:] - original[64 : len(same)]).max() < 2e-3
    frames, reference_frames = decoded_frames(shifted.mp4), decoded_frames(trailer_prepared.mp4)
    assert len(frames) == len(reference_frames) == trailer_prepared.num_frames
    assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, reference_frames)) < 1.0


def test_5_1_sound_is_downmixed_with_the_documented_matrix_in_sync(trailer, trailer_prepared):
    """The trailer's six AAC channels, decoded by PyAV, mixed with ITU-R BS.775's mono weights and
    resampled to 16 kHz, are the prepared audio sample for sample (no lag, correlation > 0.99)."""
    with av.open(io.BytesIO(trailer)) as container:
        stream = container.streams.audio[0]
        names = [channel.name for channel in stream.layout.channels]
        planes = np.concatenate([frame.to_ndarray() for frame in container.decode(stream)], axis=1).astype(np.float64)
    assert names == ["FL", "FR", "FC", "LFE", "BL", "BR"]
    weights = np.array([1 / math.sqrt(2), 1 / math.sqrt(2), 1.0, 0.0, 0.5, 0.5])
    assert np.allclose(downmix_weights(names), weights / weights.sum())
    mixed = (weights / weights.sum()) @ planes
    expected = _resampled(mixed.astype(np.float32), stream.rate, RATE_HZ)
    audio, _ = decoded_audio(trailer_prepared.flac)
    assert best_lag(expected, audio) == 0
    n = min(len(audio), len(expected))
    assert np.corrcoef(expected[:n], audio[:n])[0, 1] > 0.99
    assert np.std(audio[:n]) == pytest.approx(np.std(expected[:n]), rel=0.02)  # the same level: no other gain


def test_every_channel_of_5_1_gets_its_weight():
    """A tone per channel (lossless FLAC in Matroska): each tone's amplitude in the prepared mono is
    its channel's weight times its own, within 1%; the LFE's tone is gone."""
    layout, tones_hz, amplitude = "5.1", [300.0, 500.0, 700.0, 110.0, 1100.0, 1300.0], 0.25
    seconds, rate = 2.0, 48_000
    t = np.arange(round(seconds * rate)) / rate
    planes = np.stack([amplitude * np.sin(2 * np.pi * f * t) for f in tones_hz]).astype(np.float32)
    media = _video_with_sound(planes, rate, layout, "matroska", "flac", seconds)
    prepared = normalize_video(media)
    audio, _ = decoded_audio(prepared.flac)
    names = [channel.name for channel in av.AudioLayout(layout).channels]
    expected = downmix_weights(names) * amplitude
    measured = [_tone_amplitude(audio[RATE_HZ // 2 : 3 * RATE_HZ // 2], RATE_HZ, f) for f in tones_hz]
    assert np.allclose(measured, expected, atol=0.01 * amplitude)
    assert measured[3] < 0.002  # LFE


def test_variable_frame_rate_keeps_the_frame_on_screen_at_each_time():
    """Frames dropped and the rest jittered by up to +-8 ms (a 1 ms time base, as phones write): output
    frame k is the input frame on screen at k / fps, the last one whose time is <= k / fps."""
    fps, rng = 24, np.random.default_rng(0)
    kept = [i for i in range(60) if i not in {5, 6, 7, 20, 33, 34, 35, 36, 50}]
    times_s = [0.0] + [i / fps + rng.uniform(-0.008, 0.008) for i in kept[1:]]
    media = _coded_vfr_video(kept, times_s)
    for config in (VideoConfig(fps=fps), VideoConfig()):
        prepared = normalize_video(media, config)
        shown = [read_frame_number(frame) for frame in decoded_frames(prepared.mp4)]
        expected = [kept[int(np.searchsorted(times_s, k / prepared.fps + 1e-9, side="right")) - 1]
                    for k in range(len(shown))]
        assert shown == expected
        assert len(shown) >= round(times_s[-1] * prepared.fps)
    assert VideoConfig().max_fps >= prepared.fps > 18  # the average rate of what was kept


def _resampled(samples: np.ndarray, rate_hz: int, to_hz: int) -> np.ndarray:
    """Mono float samples at another rate, with FFmpeg's resampler (what the reference is compared in)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=to_hz)
    frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate_hz, 0, Fraction(1, rate_hz)
    out = [r.to_ndarray().reshape(-1) for r in resampler.resample(frame)] + \
          [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
    return np.concatenate(out).astype(np.float64)


def _tone_amplitude(samples: np.ndarray, rate_hz: int, tone_hz: float) -> float:
    """Least-squares amplitude of a sinusoid at `tone_hz` in `samples`."""
    t = np.arange(len(samples)) / rate_hz
    basis = np.stack([np.sin(2 * np.pi * tone_hz * t), np.cos(2 * np.pi * tone_hz * t)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, samples, rcond=None)
    return float(np.hypot(a, b))


def _video_with_sound(planes: np.ndarray, rate_hz: int, layout: str, container_format: str, codec: str,
                      seconds: float, fps: int = 24) -> bytes:
    """A coded-frame H.264 video with `planes` ([channels, samples] float) as its sound track."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_format) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        audio = container.add_stream(codec, rate=rate_hz, layout=layout)
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(coded_frame(i, 160, 96), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        encode_planes(audio, container, planes, layout, "s16p")
    return buf.getvalue()


def _coded_vfr_video(numbers: list[int], times_s: list[float]) -> bytes:
    """An H.264 mp4 showing coded frame `numbers[j]` from time `times_s[j]` (1 ms time base)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for number, time_s in zip(numbers, times_s):
            frame = av.VideoFrame.from_ndarray(coded_frame(number, 160, 96), format="rgb24")
            frame.pts, frame.time_base = round(time_s * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()
