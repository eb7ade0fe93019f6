"""Generated videos whose pixels say which frame they are and whose audio says what time it is.

Frame i carries i as a 10-bit code: 10 equal vertical stripes (most significant bit left, white = 1,
black = 0) spanning the central 50% of the width and of the height, on mid-grey. Stripes are wide and
black/white/grey are neutral, so the code survives H.264 (yuv420p), scaling to ~0.3x and a centre crop
that keeps the whole band. The audio is a tone that switches between two frequencies at given times.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mmssl.data.dataset_writer import DatasetWriter
from mmssl.data.manifest import MANIFEST_SCHEMA
from mmssl.data.normalize_video import NormalizedVideo, normalize_video

CODE_BITS = 10
BAND_FRACTION = 0.5  # of the frame's width and height, centred
GREY = 128
AMBIGUOUS = (80, 176)  # a stripe whose mean lies strictly inside this range is neither black nor white


def coded_frame(number: int, width: int, height: int) -> np.ndarray:
    """uint8 HxWx3: `number` (0..1023) as the stripe code on grey."""
    if not 0 <= number < 1 << CODE_BITS:
        raise ValueError(f"coded_frame: number must be in 0..{(1 << CODE_BITS) - 1}, got {number}")
    frame = np.full((height, width, 3), GREY, np.uint8)
    left, right = _band_edges(width, BAND_FRACTION)
    top, bottom = _band_edges(height, BAND_FRACTION)
    stripe_edges = np.round(np.linspace(left, right, CODE_BITS + 1)).astype(int)
    for bit in range(CODE_BITS):
        is_set = number >> (CODE_BITS - 1 - bit) & 1
        frame[round(top) : round(bottom), stripe_edges[bit] : stripe_edges[bit + 1]] = 255 if is_set else 0
    return frame


def read_frame_number(frame: np.ndarray, band_fraction: float | None = BAND_FRACTION) -> int:
    """The number coded_frame wrote into `frame` (HxWx3 or HxW, uint8 or float on the 0..255 scale).

    `band_fraction` is the fraction of this frame's width the band covers, centred (0.5 for a frame
    only scaled; W_scaled * 0.5 / crop_side after a centre crop); None locates the band by its extent
    instead (any crop that keeps the whole band with some grey left of and right of it).
    Raises ValueError when a stripe or the grey beside the band reads ambiguously."""
    luma = np.asarray(frame, np.float64)
    luma = luma.mean(axis=-1) if luma.ndim == 3 else luma
    if luma.ndim != 2:
        raise ValueError(f"read_frame_number: expected an HxWx3 or HxW frame, got shape {np.shape(frame)}")
    if luma.max() <= 1.0:
        raise ValueError("read_frame_number: frame values are all <= 1; pass pixels on the 0..255 scale")
    height, width = luma.shape
    if band_fraction is None:
        left, right, top, bottom = _locate_band(luma)
    else:
        if not 0 < band_fraction <= 1:
            raise ValueError(f"read_frame_number: band_fraction must be in (0, 1], got {band_fraction}")
        left, right = _band_edges(width, band_fraction)
        top, bottom = 3 * height / 8, 5 * height / 8  # inside the band whenever the crop keeps it whole
    stripe_px = (right - left) / CODE_BITS
    centres = left + (np.arange(CODE_BITS) + 0.5) * stripe_px
    values = [_window_mean(luma, c, stripe_px / 4, top, bottom) for c in centres]
    shown = np.round(values).astype(int).tolist()
    # grey half a stripe beside the band, where the frame has room: catches a wrong band_fraction
    for side, x in (("left", left - stripe_px / 2), ("right", right + stripe_px / 2)):
        if 0 <= x - stripe_px / 4 and x + stripe_px / 4 <= width:
            grey = _window_mean(luma, x, stripe_px / 4, top, bottom)
            if not AMBIGUOUS[0] < grey < AMBIGUOUS[1]:
                raise ValueError(f"read_frame_number: {side} of the band reads {grey:.0f}, not grey; band_fraction "
                                 f"{band_fraction} does not fit this frame (stripe means {shown})")
    if any(AMBIGUOUS[0] < v < AMBIGUOUS[1] for v in values):
        raise ValueError(f"read_frame_number: ambiguous stripes (means {shown}; black/white need <= {AMBIGUOUS[0]} / "
                         f">= {AMBIGUOUS[1]}): a wrong band_fraction, or no code in this frame")
    return int(sum(1 << (CODE_BITS - 1 - bit) for bit, v in enumerate(values) if v >= AMBIGUOUS[1]))


def _band_edges(size: float, fraction: float) -> tuple[float, float]:
    return size * (1 - fraction) / 2, size * (1 + fraction) / 2


def _window_mean(luma: np.ndarray, centre_x: float, half_width: float, top: float, bottom: float) -> float:
    """Mean over rows top..bottom of the columns whose pixel centre lies within `half_width` of
    `centre_x` (at least the nearest column)."""
    x0 = max(0, int(np.ceil(centre_x - half_width - 0.5)))
    x1 = max(x0 + 1, int(np.floor(centre_x + half_width - 0.5)) + 1)
    y0 = int(np.floor(top))
    y1 = max(y0 + 1, int(np.ceil(bottom)))
    return float(luma[y0:y1, x0:x1].mean())


def _locate_band(luma: np.ndarray) -> tuple[float, float, float, float]:
    """Band edges (left, right, middle half of its rows) from where pixels are far from grey."""
    coded = np.abs(luma - GREY) > 64
    cols = np.flatnonzero(coded.mean(axis=0) > 0.25)
    if cols.size == 0:
        raise ValueError("read_frame_number: no code band found (no pixels far from grey)")
    left, right = cols[0], cols[-1] + 1
    if left == 0 or right == luma.shape[1]:
        raise ValueError(f"read_frame_number: the band touches the frame edge (columns {left}..{right} of "
                         f"{luma.shape[1]}); it may be cropped, pass band_fraction instead")
    rows = np.flatnonzero(coded[:, left:right].mean(axis=1) > 0.5)
    top, bottom = rows[0], rows[-1] + 1
    quarter = (bottom - top) / 4
    return float(left), float(right), top + quarter, bottom - quarter


def coded_video(
    num_frames: int,
    fps: int = 24,
    width: int = 160,
    height: int = 96,
    gop: int = 16,
    audio_events_s: tuple[float, ...] | None = None,
    audio_rate_hz: int = 16000,
    tone_hz=(500.0, 2500.0),
    still_number: int | None = None,
    still_frames: int | None = None,
) -> bytes:
    """H.264 yuv420p CFR mp4, frame i = coded_frame(i) at pts time i/fps, a keyframe every `gop` frames.

    With `audio_events_s`, a mono AAC track of num_frames/fps seconds: tone_hz[0] first, switching to
    the other tone at each listed time. With `still_number`, the first `still_frames` frames (default: all)
    show that number: a still video, or one that starts still and then changes every frame."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        # every stream is added before the first packet is muxed (the header is written then)
        audio_stream = None
        if audio_events_s is not None:
            audio_stream = container.add_stream("aac", rate=audio_rate_hz, layout="mono")
        for i in range(num_frames):
            still = still_number is not None and (still_frames is None or i < still_frames)
            number = still_number if still else i
            frame = av.VideoFrame.from_ndarray(coded_frame(number, width, height), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio_stream is not None:
            samples = _switching_tone(num_frames / fps, audio_rate_hz, audio_events_s, tone_hz)
            _write_aac(container, audio_stream, samples, audio_rate_hz)
    return buf.getvalue()


def _switching_tone(seconds: float, rate_hz: int, events_s, tone_hz) -> np.ndarray:
    """float32 samples, amplitude 0.5; phase is continuous across switches (no clicks)."""
    t = np.arange(round(seconds * rate_hz)) / rate_hz
    which = np.searchsorted(np.sort(np.asarray(events_s, np.float64)), t, side="right") % 2
    freq = np.asarray(tone_hz, np.float64)[which]
    phase = 2 * np.pi * np.cumsum(freq) / rate_hz
    return (0.5 * np.sin(phase)).astype(np.float32)


def _write_aac(container, stream, samples: np.ndarray, rate_hz: int) -> None:
    for start in range(0, samples.size, 1024):
        chunk = np.ascontiguousarray(samples[None, start : start + 1024])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate_hz, start, Fraction(1, rate_hz)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def prepared_video(num_frames: int, **options) -> NormalizedVideo:
    """coded_video(num_frames, **options) after normalize_video: what preparation stores (mp4 + mono 16 kHz FLAC)."""
    return normalize_video(coded_video(num_frames, **options))


def tone_at(samples: np.ndarray, rate_hz: int, t_s: float, tone_hz) -> int:
    """0 or 1: which of tone_hz dominates the 20 ms window centred on t_s of mono `samples`.

    Raises ValueError when neither tone is 4x stronger than the other (silence, a switch inside the
    window, or the wrong rate)."""
    samples = np.asarray(samples, np.float64)
    if samples.ndim != 1:
        raise ValueError(f"tone_at: expected mono 1-D samples, got shape {samples.shape}")
    half = round(0.010 * rate_hz)
    centre = round(t_s * rate_hz)
    if centre - half < 0 or centre + half > samples.size:
        raise ValueError(f"tone_at: window at {t_s} s is outside the {samples.size / rate_hz:.3f} s of audio")
    window = samples[centre - half : centre + half] * np.hanning(2 * half)
    spectrum = np.abs(np.fft.rfft(window))
    freqs = np.fft.rfftfreq(2 * half, 1 / rate_hz)
    strength = [spectrum[np.argmin(np.abs(freqs - f))] for f in tone_hz]
    if max(strength) <= 4 * min(strength):
        raise ValueError(f"tone_at: no dominant tone at {t_s} s (strengths {strength[0]:.3g} at {tone_hz[0]} Hz, "
                         f"{strength[1]:.3g} at {tone_hz[1]} Hz)")
    return int(np.argmax(strength))


def write_video_dataset(out_dir, videos: list[NormalizedVideo | dict], shard_bytes: int = 1 << 20) -> Path:
    """Write `videos` as samples 0..len-1 of a prepared dataset; returns `out_dir`.

    A NormalizedVideo gets its mp4 (+ flac when it has audio) and full manifest fields; a dict is taken
    as the members themselves ({"mp4": bytes, "flac": bytes}, e.g. a deliberately broken one) and only
    modality, source and has_audio are recorded."""
    names = set(MANIFEST_SCHEMA.names)
    with DatasetWriter(out_dir, shard_bytes=shard_bytes) as writer:
        for i, video in enumerate(videos):
            fields = {"modality": "video", "source": f"generated/{i}.mp4"}
            if isinstance(video, NormalizedVideo):
                members = {"mp4": video.mp4} | ({"flac": video.flac} if video.flac is not None else {})
                fields |= {"width": video.width, "height": video.height, "fps": video.fps,
                           "num_frames": video.num_frames, "duration_s": video.duration_s,
                           "audio_sample_rate_hz": video.audio_sample_rate_hz}
            else:
                members = dict(video)
            fields["has_audio"] = "flac" in members
            writer.add(members, {k: v for k, v in fields.items() if k in names})
    return Path(out_dir)


def decoded_frames(mp4: bytes) -> list[np.ndarray]:
    """RGB uint8 frames of `mp4` in display order (PyAV)."""
    with av.open(io.BytesIO(mp4)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def decoded_audio(flac: bytes) -> tuple[np.ndarray, int]:
    """(mono float32 samples in [-1, 1], sample rate in Hz) of a FLAC (or any single-track audio file)."""
    with av.open(io.BytesIO(flac)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=stream.rate)
        chunks = [r.to_ndarray().reshape(-1) for frame in container.decode(stream) for r in resampler.resample(frame)]
        chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
        return np.concatenate(chunks), stream.rate


def flac_bytes(samples: np.ndarray, rate_hz: int) -> bytes:
    """Mono float samples in [-1, 1] as a 16-bit FLAC file."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate_hz, layout="mono")
        pcm = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate_hz
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def moving_square_video(num_frames: int, velocity_px: tuple[int, int] = (3, 2), start_px: tuple[int, int] = (40, 30),
                        size_px: int = 56, width: int = 256, height: int = 160, fps: int = 24,
                        seed: int = 0) -> NormalizedVideo:
    """A blocky random-textured square gliding over flat grey: at frame i its top-left corner is
    start_px + i * velocity_px (x, y). velocity (0, 0) makes a static video."""
    rng = np.random.default_rng(seed)
    texture = np.kron(rng.integers(0, 256, (size_px // 4, size_px // 4, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"crf": "12"}
        for i in range(num_frames):
            pixels = np.full((height, width, 3), 110, np.uint8)
            x, y = start_px[0] + i * velocity_px[0], start_px[1] + i * velocity_px[1]
            pixels[y : y + size_px, x : x + size_px] = texture
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return normalize_video(buf.getvalue())
