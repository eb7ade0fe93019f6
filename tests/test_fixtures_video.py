"""The coded-video fixtures themselves: frame codes survive H.264, scaling and centre crops; tones switch on time."""

import numpy as np
import pytest
from PIL import Image

from fixtures_video import (
    coded_frame,
    coded_video,
    decoded_audio,
    decoded_frames,
    prepared_video,
    read_frame_number,
    tone_at,
    write_video_dataset,
)
from mmssl.data.manifest import read_manifest

TONES_HZ = (500.0, 2500.0)


@pytest.fixture(scope="module")
def frames_40():
    video = prepared_video(40)
    assert (video.num_frames, video.width, video.height, video.flac) == (40, 160, 96, None)
    return decoded_frames(video.mp4)


def centre_square(frame: np.ndarray, side: int) -> np.ndarray:
    height, width = frame.shape[:2]
    top, left = (height - side) // 2, (width - side) // 2
    return frame[top : top + side, left : left + side]


def test_every_code_reads_back_exactly():
    for number in (0, 1, 2, 511, 512, 683, 1023):
        assert read_frame_number(coded_frame(number, 160, 96)) == number
    assert read_frame_number(coded_frame(341, 160, 96).astype(np.float32)) == 341
    with pytest.raises(ValueError, match="number must be"):
        coded_frame(1024, 160, 96)


def test_frames_read_back_after_h264(frames_40):
    assert [read_frame_number(f) for f in frames_40] == list(range(40))
    assert [read_frame_number(f, band_fraction=None) for f in frames_40] == list(range(40))


@pytest.mark.parametrize("scale", [0.5, 0.4, 1.7])
def test_frames_read_back_after_resize_and_centre_crop(frames_40, scale):
    for i, frame in enumerate(frames_40):
        width, height = round(160 * scale), round(96 * scale)
        resized = np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))
        side = height  # the largest square: keeps the band (half the width) whole
        cropped = centre_square(resized, side)
        assert read_frame_number(cropped, band_fraction=0.5 * width / side) == i
        assert read_frame_number(cropped, band_fraction=None) == i


def test_wrong_reads_raise(frames_40):
    with pytest.raises(ValueError, match="ambiguous"):
        read_frame_number(np.full((96, 160, 3), 128, np.uint8))
    with pytest.raises(ValueError, match="no code band"):
        read_frame_number(np.full((96, 160, 3), 128, np.uint8), band_fraction=None)
    cropped = centre_square(frames_40[20], 96)
    with pytest.raises(ValueError):  # band covers 0.83 of the crop, not 0.5
        read_frame_number(cropped)
    with pytest.raises(ValueError, match="0..255"):
        read_frame_number(frames_40[5] / 255.0)


def test_tone_switches_at_audio_events():
    video = prepared_video(48, fps=24, audio_events_s=(0.5, 1.2))
    samples, rate_hz = decoded_audio(video.flac)
    assert rate_hz == video.audio_sample_rate_hz == 16000
    assert samples.size == pytest.approx(2.0 * rate_hz, abs=0.05 * rate_hz)
    assert [tone_at(samples, rate_hz, t, TONES_HZ) for t in (0.3, 0.8, 1.5)] == [0, 1, 0]
    with pytest.raises(ValueError, match="no dominant tone"):
        tone_at(np.zeros(rate_hz), rate_hz, 0.5, TONES_HZ)


def test_written_dataset_has_video_fields(tmp_path):
    speaking = prepared_video(24, audio_events_s=(0.5,))
    silent = prepared_video(16)
    broken = {"mp4": coded_video(8)[:500]}
    out = write_video_dataset(tmp_path, [speaking, silent, broken])
    rows = read_manifest(out).to_pylist()
    assert [r["has_audio"] for r in rows] == [True, False, False]
    assert [r["num_frames"] for r in rows] == [24, 16, None]
    assert rows[0]["fps"] == 24.0 and rows[0]["audio_sample_rate_hz"] == 16000
    assert (rows[1]["width"], rows[1]["height"], rows[1]["modality"]) == (160, 96, "video")
