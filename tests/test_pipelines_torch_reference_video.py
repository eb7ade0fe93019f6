"""The torch video baseline, checked from content (frames carry their number, sound switches tone at
known times; see fixtures_video.py) and against the DALI loader's plan and outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fixtures_pipelines import to_pixels
from fixtures_video import prepared_video, read_frame_number, write_video_dataset
from mmssl.pipelines.loader import build_loader
from mmssl.pipelines.torch_reference_video import build_torch_video_loader

FPS, WIDTH, HEIGHT = 24, 160, 96
VIDEO_FRAMES = {0: 60, 1: 5, 2: 150, 3: 100}  # video 1 is shorter than one clip
TONE_SWITCHES_S = (0.5, 1.3, 2.1, 2.9, 3.7, 4.5, 5.3, 6.1)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return write_video_dataset(tmp_path_factory.mktemp("reference_videos"), [
        prepared_video(frames, fps=FPS, width=WIDTH, height=HEIGHT, audio_events_s=TONE_SWITCHES_S)
        for frames in VIDEO_FRAMES.values()])


def clip_numbers(clip: torch.Tensor, crop_px: int) -> list[int]:
    """Frame numbers read from a normalised [3, T, S, S] centre-cropped clip."""
    band_fraction = 0.5 * (WIDTH * crop_px / HEIGHT) / crop_px  # short side resized to the crop
    return [read_frame_number(frame, band_fraction) for frame in to_pixels(clip.movedim(1, 0))]


def first_batch(pipeline, data, **kwargs):
    return next(iter(build_torch_video_loader(pipeline, data, num_workers=0, **kwargs)))


def test_clips_show_the_frames_their_times_name(videos):
    batch = first_batch("clips", videos, batch_size=4, options={"augment": False, "crop_px": 64, "frame_stride": 3})
    assert batch["video"].shape == (4, 3, 8, 64, 64) and batch["video"].dtype == torch.float32
    assert sorted(batch["index"].tolist()) == [0, 1, 2, 3]
    for clip, times, index in zip(batch["video"], batch["frame_times_s"], batch["index"].tolist()):
        numbers = clip_numbers(clip, 64)
        assert numbers == [round(t * FPS) for t in times.tolist()], index
        expected = np.minimum(numbers[0] + 3 * np.arange(8), VIDEO_FRAMES[index] - 1)  # short videos repeat the last
        assert numbers == expected.tolist(), index


def test_temporal_clips_are_within_max_gap_and_the_far_one_far(videos):
    options = {"augment": False, "crop_px": 64, "max_gap_s": 0.5, "far_clip": True, "min_far_gap_s": 2.0}
    batch = first_batch("temporal", videos, batch_size=4, options=options, seed=3)
    for i, index in enumerate(batch["index"].tolist()):
        times = {c: batch[f"frame_times_{c}_s"][i].tolist() for c in ("a", "b", "far")}
        for c in times:
            assert clip_numbers(batch[f"clip_{c}"][i], 64) == [round(t * FPS) for t in times[c]], (index, c)
        gap, far_gap = batch["gap_s"][i].item(), batch["far_gap_s"][i].item()
        assert gap == pytest.approx(times["b"][0] - times["a"][0]) and abs(gap) <= 0.5 + 1e-6
        assert far_gap == pytest.approx(times["far"][0] - times["a"][0])
        if VIDEO_FRAMES[index] - 15 >= 2 * 2.0 * FPS:  # long enough to always have a far start
            assert abs(far_gap) >= 2.0 - 1e-6, index


def test_augmented_clip_is_one_crop_flip_and_colour(tmp_path):
    """A still video must come out as identical frames: the clip's random parameters are shared."""
    data = write_video_dataset(tmp_path, [prepared_video(30, fps=FPS, width=WIDTH, height=HEIGHT, still_number=9)])
    for seed in range(3):
        clip = first_batch("clips", data, batch_size=1, options={"crop_px": 48, "frames": 6}, seed=seed)["video"][0]
        assert torch.allclose(clip, clip[:, :1].expand_as(clip), atol=2 / 255 / 0.225)


@pytest.mark.parametrize("pipeline, options", [
    ("clips", {"crop_px": 32, "frames": 4}),
    ("av_pairs", {"augment": False, "crop_px": 64, "audio_s": 1.0, "hard_negative_fraction": 0.5}),
])
def test_same_plan_names_and_shapes_as_dali(videos, pipeline, options):
    """Same seed, same slots: the same frames, audio windows and labels as the DALI loader plans."""
    dali = next(iter(build_loader(pipeline, videos, batch_size=4, options=options, seed=5)))
    reference = first_batch(pipeline, videos, batch_size=4, options=options, seed=5)
    assert dali.keys() == reference.keys()
    for name in dali:
        assert dali[name].shape == reference[name].shape and dali[name].dtype == reference[name].dtype, name
    for name in ("index", "row", "frame_times_s", "audio_start_s", "match", "audio_index", "offset_s"):
        if name in dali:
            assert torch.allclose(dali[name].double(), reference[name].double(), atol=1e-6), name
    if pipeline == "av_pairs":  # unaugmented: the log-mels of the same windows agree to float32 rounding
        difference_db = (dali["audio"] - reference["audio"]).abs()
        audible = dali["audio"] > -60  # near the -80 dB floor, float32 rounding of tiny powers shows more
        assert difference_db[audible].max() < 3e-3  # 1.5e-3 measured; 0.87 with torch's periodic Hann
        assert difference_db.max() < 0.03 and difference_db.mean() < 3e-4  # 0.014 and 1.2e-4 measured
        for clip, times in zip(reference["video"], reference["frame_times_s"]):
            assert clip_numbers(clip, 64) == [round(t * FPS) for t in times.tolist()]


def test_workers_make_the_dali_loader_batches(videos):
    kwargs = dict(batch_size=1, seed=4, options={"crop_px": 16, "frames": 2})
    dali = [b["index"].tolist() for b in build_loader("clips", videos, **kwargs)]
    reference = [b["index"].tolist() for b in build_torch_video_loader("clips", videos, num_workers=2, **kwargs)]
    assert reference == dali and sorted(i for b in dali for i in b) == [0, 1, 2, 3]
