"""Header parsers: mp4 frame count / rate / size and FLAC STREAMINFO agree with what PyAV decodes."""

import io

import av
import numpy as np
import pytest

from fixtures_ingest import make_audio_only_mp4, make_video
from mmssl.data.media_info import AudioInfo, MediaInfoError, VideoInfo, flac_info, video_info
from mmssl.data.normalize_video import normalize_video


def make_mp4(num_frames: int, fps: int, width: int, height: int, audio_first: bool = False) -> bytes:
    """libx264 (x264 defaults: B-frames on) in an in-memory mp4; `audio_first` adds an AAC track before it."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        audio = container.add_stream("aac", rate=16_000, layout="mono") if audio_first else None
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (height, width, 3), np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:
            samples = np.zeros((1, 16_000), np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16_000, 0
            container.mux(audio.encode(frame))
            container.mux(audio.encode())
    return buf.getvalue()


def make_flac(seconds: float, rate_hz: int, layout: str) -> bytes:
    channels = 2 if layout == "stereo" else 1
    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate_hz, layout=layout, format="s16")
        t = np.arange(round(seconds * rate_hz)) / rate_hz
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        interleaved = np.repeat(tone, channels)[None, :]  # packed s16: one plane, channels interleaved
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        frame.sample_rate, frame.pts = rate_hz, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buf.getvalue()


def decoded_video(mp4: bytes) -> tuple[int, float, int, int]:
    """What PyAV reports: decoded frame count, average rate, width, height."""
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, float(stream.average_rate), stream.codec_context.width, stream.codec_context.height


def decoded_audio(flac: bytes) -> tuple[int, int, int]:
    """What PyAV reports: decoded sample count, sample rate, channels."""
    with av.open(io.BytesIO(flac)) as container:
        stream = container.streams.audio[0]
        count = sum(frame.samples for frame in container.decode(stream))
        return count, stream.sample_rate, stream.codec_context.channels


@pytest.mark.parametrize(
    "num_frames, fps, width, height, audio_first",
    [(48, 24, 96, 64, False), (37, 30, 64, 48, False), (50, 25, 160, 90, False), (20, 24, 96, 64, True)],
    ids=["24fps-2s", "30fps-bframes", "25fps-160x90", "audio-track-first"],
)
def test_video_info_matches_pyav(num_frames, fps, width, height, audio_first):
    mp4 = make_mp4(num_frames, fps, width, height, audio_first)
    info = video_info(mp4)
    assert (info.num_frames, info.fps, info.width, info.height) == decoded_video(mp4)
    assert info == VideoInfo(num_frames=num_frames, fps=float(fps), duration_s=num_frames / fps,
                             width=width, height=height)


def test_30fps_case_has_b_frames():
    assert b"ctts" in make_mp4(37, 30, 64, 48)  # composition offsets: frames are stored out of display order


def test_audio_track_really_precedes_video():
    with av.open(io.BytesIO(make_mp4(5, 24, 32, 32, audio_first=True))) as container:
        assert [s.type for s in container.streams] == ["audio", "video"]


@pytest.mark.parametrize("seconds, rate_hz, layout", [(1.5, 16_000, "mono"), (1.0, 44_100, "stereo")])
def test_flac_info_matches_pyav(seconds, rate_hz, layout):
    flac = make_flac(seconds, rate_hz, layout)
    info = flac_info(flac)
    assert (info.num_samples, info.sample_rate_hz, info.channels) == decoded_audio(flac)
    expected_samples = round(seconds * rate_hz)
    assert info == AudioInfo(sample_rate_hz=rate_hz, num_samples=expected_samples,
                             channels=2 if layout == "stereo" else 1, duration_s=expected_samples / rate_hz)


def test_normalized_video_headers_match_normalizer():
    normalized = normalize_video(make_video(seconds=1.0, fps=24))
    info = video_info(normalized.mp4)
    assert (info.num_frames, info.fps, info.width, info.height) == (
        normalized.num_frames, normalized.fps, normalized.width, normalized.height)
    assert flac_info(normalized.flac).sample_rate_hz == 16_000


@pytest.fixture(scope="module")
def small_mp4():
    return make_mp4(12, 24, 32, 32)


def top_level_boxes(mp4: bytes) -> list[tuple[bytes, bytes]]:
    boxes, pos = [], 0
    while pos < len(mp4):
        size, kind = int.from_bytes(mp4[pos : pos + 4], "big"), mp4[pos + 4 : pos + 8]
        boxes.append((kind, mp4[pos + 8 : pos + size]))
        pos += size
    return boxes


def test_64_bit_and_to_end_box_sizes(small_mp4):
    boxes = top_level_boxes(small_mp4)
    assert boxes[-1][0] == b"moov"  # PyAV writes moov last, so it can be the size-0 box
    rewritten = b"".join((1).to_bytes(4, "big") + kind + (16 + len(payload)).to_bytes(8, "big") + payload
                         for kind, payload in boxes[:-1])
    rewritten += (0).to_bytes(4, "big") + b"moov" + boxes[-1][1]
    assert video_info(rewritten) == video_info(small_mp4)


def test_size_from_sample_entry_when_tkhd_says_zero(small_mp4):
    tkhd = small_mp4.index(b"tkhd") + 4  # payload start; version 0 here, size in its last 8 bytes
    assert small_mp4[tkhd] == 0
    zeroed = small_mp4[: tkhd + 76] + bytes(8) + small_mp4[tkhd + 84 :]
    assert (video_info(zeroed).width, video_info(zeroed).height) == (32, 32)


def test_truncated_mp4_is_refused(small_mp4):
    with pytest.raises(MediaInfoError, match="truncated"):
        video_info(small_mp4[: len(small_mp4) // 2])


@pytest.mark.parametrize("cut", [0, 3, 8, 100, -1, -8, -50, -200])
def test_any_cut_mp4_raises_media_info_error_only(small_mp4, cut):
    with pytest.raises(MediaInfoError):
        video_info(small_mp4[:cut])


def test_random_bytes_are_refused():
    with pytest.raises(MediaInfoError):
        video_info(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())


def test_audio_only_mp4_is_refused():
    with pytest.raises(MediaInfoError, match=r"no video track \(moov/trak with handler 'vide'\)"):
        video_info(make_audio_only_mp4(0.2))


def test_bad_flac_magic_is_refused():
    flac = make_flac(0.1, 16_000, "mono")
    with pytest.raises(MediaInfoError, match="magic"):
        flac_info(b"fLaX" + flac[4:])


def test_flac_cut_to_20_bytes_is_refused():
    with pytest.raises(MediaInfoError, match="truncated"):
        flac_info(make_flac(0.1, 16_000, "mono")[:20])


def test_flac_sample_rate_zero_is_refused():
    flac = bytearray(make_flac(0.1, 16_000, "mono"))
    flac[18:21] = bytes([0, 0, flac[20] & 0x0F])  # clear the 20-bit sample rate after magic + block header + 10 bytes
    with pytest.raises(MediaInfoError, match="sample rate is 0"):
        flac_info(bytes(flac))
