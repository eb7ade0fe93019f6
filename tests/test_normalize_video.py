"""Video normalization: CFR H.264 yuv420p, short GOP, bounded size, rotation applied, audio as FLAC."""

import io

import av
import numpy as np
import pytest

from fixtures_ingest import make_video, quadrant_pixels
from mmssl.data.normalize_video import VideoConfig, normalize_video
from mmssl.data.rejection import Rejection


def video_frames(mp4: bytes) -> tuple[list[int], list[bool], list[np.ndarray], dict]:
    """Packet pts, keyframe flags and RGB frames in display order, plus stream facts."""
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        facts = {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.format.name,
                 "rate": stream.average_rate, "time_base": stream.time_base}
        pts, keys, frames = [], [], []
        for frame in container.decode(stream):
            pts.append(frame.pts)
            keys.append(frame.key_frame)
            frames.append(frame.to_ndarray(format="rgb24"))
            facts["rotation"] = frame.rotation
    return pts, keys, frames, facts


@pytest.fixture(scope="module")
def clip_2s():
    return normalize_video(make_video(seconds=2.0, fps=24))


def test_h264_yuv420p_and_fields(clip_2s):
    pts, _, frames, facts = video_frames(clip_2s.mp4)
    assert (facts["codec"], facts["pix_fmt"]) == ("h264", "yuv420p")
    assert clip_2s.num_frames == len(frames) == 48
    assert clip_2s.fps == 24.0 and clip_2s.duration_s == pytest.approx(2.0)
    assert (clip_2s.width, clip_2s.height) == (96, 64) == (frames[0].shape[1], frames[0].shape[0])


def test_keyframe_every_16_frames(clip_2s):
    _, keys, _, _ = video_frames(clip_2s.mp4)  # the input had one keyframe in 250
    assert [i for i, key in enumerate(keys) if key] == [0, 16, 32]


def test_custom_gop():
    _, keys, _, _ = video_frames(normalize_video(make_video(seconds=1.0), VideoConfig(gop_frames=8)).mp4)
    assert [i for i, key in enumerate(keys) if key] == [0, 8, 16]


def test_variable_frame_rate_becomes_constant():
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.02, 0.12, size=25))  # about 1.7 s of irregularly spaced frames
    out = normalize_video(make_video(frame_times_s=[0.0, *times[:-1]], audio=False), VideoConfig(fps=10))
    pts, _, frames, facts = video_frames(out.mp4)
    steps = {round(float((b - a) * facts["time_base"]), 6) for a, b in zip(pts, pts[1:])}
    assert steps == {0.1}  # every frame exactly 1/10 s after the last
    assert out.fps == 10.0 and out.num_frames == len(frames)
    assert abs(out.duration_s - times[-1]) <= 0.1 + 1e-9


def test_source_rate_is_capped():
    out = normalize_video(make_video(seconds=1.0, fps=50, audio=False), VideoConfig(max_fps=25))
    assert out.fps == 25.0 and out.num_frames == 25


def test_short_side_is_bounded_and_even():
    out = normalize_video(make_video(width=640, height=360, seconds=0.5, audio=False), VideoConfig(max_short_side_px=128))
    assert out.height == 128 and out.width == 226  # 640 * 128/360 = 227.6 -> even
    _, _, frames, _ = video_frames(out.mp4)
    assert frames[0].shape[:2] == (128, 226)


@pytest.mark.parametrize("rotation, rotate_k", [(90, 1), (180, 2), (270, -1)])
def test_rotation_metadata_is_applied(rotation, rotate_k):
    out = normalize_video(make_video(seconds=0.5, rotation=rotation, audio=False))
    _, _, frames, facts = video_frames(out.mp4)
    expected = np.rot90(quadrant_pixels(96, 64), rotate_k).astype(int)
    assert facts["rotation"] == 0  # nothing left for a player to apply
    assert (out.width, out.height) == (expected.shape[1], expected.shape[0])
    first = frames[0].astype(int)
    red_mask = expected[..., 0] > 128
    assert first[..., 0][red_mask].mean() > 180 and first[..., 0][~red_mask].mean() < 90


def test_audio_becomes_mono_flac_at_16k(clip_2s):
    with av.open(io.BytesIO(clip_2s.flac)) as container:
        stream = container.streams.audio[0]
        assert (container.format.name, stream.codec_context.name) == ("flac", "flac")
        assert (stream.rate, stream.channels) == (16_000, 1)
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)]).astype(np.float64)
    assert clip_2s.audio_sample_rate_hz == 16_000
    assert abs(len(samples) - 32_000) < 1_000  # 2 s (plus the AAC encoder's priming)
    spectrum = np.abs(np.fft.rfft(samples[2_000:18_000]))
    peak_hz = np.argmax(spectrum) * 16_000 / 16_000
    assert abs(peak_hz - 440) <= 2  # still the 440 Hz tone


def test_video_without_audio_is_kept():
    out = normalize_video(make_video(seconds=0.5, audio=False))
    assert out.flac is None and out.audio_sample_rate_hz is None and out.num_frames == 12


def test_long_video_is_cut_not_refused():
    out = normalize_video(make_video(seconds=2.0, audio=False), VideoConfig(max_duration_s=1.0))
    assert 24 <= out.num_frames <= 25


def test_video_from_path(tmp_path):
    path = tmp_path / "clip.bin"
    path.write_bytes(make_video(seconds=0.5))
    out = normalize_video(path)
    assert out.num_frames == 12 and out.flac is not None


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100, "unreadable video container"),
        (b"not a video at all", "unreadable video container"),
    ],
)
def test_broken_input_is_a_rejection(data, reason):
    with pytest.raises(Rejection, match=reason):
        normalize_video(data)


def test_truncated_video_is_a_rejection():
    data = make_video(seconds=1.0)
    with pytest.raises(Rejection, match="unreadable video container"):
        normalize_video(data[: len(data) * 9 // 10])


def test_config_is_validated():
    with pytest.raises(ValueError, match="gop_frames"):
        VideoConfig(gop_frames=0)
    with pytest.raises(ValueError, match="crf"):
        VideoConfig(crf=60)


def test_absurd_frame_size_is_refused_before_decoding():
    data = make_video(width=320, height=240, seconds=0.2, audio=False)
    with pytest.raises(Rejection, match="absurd frame size 320x240"):
        normalize_video(data, VideoConfig(max_input_pixels=320 * 240 - 1))
