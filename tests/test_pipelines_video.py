"""Video and audio families on CPU, checked from content: frames carry their number in pixels and
sound switches between two tones at known times (see fixtures_video.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fixtures_pipelines import assert_resumes_exactly, to_pixels
from fixtures_video import prepared_video, read_frame_number, write_video_dataset
from mmssl.pipelines.loader import build_loader

FPS, WIDTH, HEIGHT = 24, 160, 96
TONE_SPLIT_BIN = 25  # of 64 mel bins at 16 kHz: 500 Hz falls near bin 14, 2500 Hz near bin 38
HOP_S = 0.01
# video v: frames, audio or not; its sound switches tone at 0.3 + 0.1 v + 0.9 k seconds
VIDEO_FRAMES = {0: 60, 1: 5, 2: 240, 3: 120, 4: 200, 5: 48}
SILENT = {5}


def tone_events(video: int) -> np.ndarray:
    duration_s = VIDEO_FRAMES[video] / FPS
    return np.arange(0.3 + 0.1 * video, duration_s, 0.9)


@pytest.fixture(scope="session")
def coded_dataset(tmp_path_factory):
    videos = [prepared_video(frames, fps=FPS, width=WIDTH, height=HEIGHT,
                             audio_events_s=None if v in SILENT else tuple(tone_events(v)))
              for v, frames in VIDEO_FRAMES.items()]
    return write_video_dataset(tmp_path_factory.mktemp("coded_videos"), videos)


def clip_numbers(clip: torch.Tensor, crop_px: int) -> list[int]:
    """Frame numbers read from a normalised [3, T, S, S] centre-cropped clip."""
    band_fraction = 0.5 * (WIDTH * crop_px / HEIGHT) / crop_px  # short side resized to the crop
    return [read_frame_number(frame, band_fraction) for frame in to_pixels(clip.movedim(1, 0))]


def epoch(loader) -> list[dict]:
    return [batch for batch in loader]


def test_clips_frames_are_the_ones_their_timestamps_name(coded_dataset):
    loader = build_loader("clips", coded_dataset, batch_size=3, options={"augment": False, "crop_px": 64})
    seen = 0
    for batch in epoch(loader):
        assert batch["video"].shape[1:] == (3, 8, 64, 64)
        for clip, times, index in zip(batch["video"], batch["frame_times_s"], batch["index"].tolist()):
            numbers = clip_numbers(clip, 64)
            assert numbers == [round(t * FPS) for t in times.tolist()], index
            last = VIDEO_FRAMES[index] - 1
            expected = np.minimum(numbers[0] + 2 * np.arange(8), last)  # stride 2; short videos repeat the last frame
            assert numbers == expected.tolist()
            seen += 1
    assert seen == 6  # every video, silent ones included


def test_clips_of_a_short_video_repeat_its_last_frame(coded_dataset):
    loader = build_loader("clips", coded_dataset, batch_size=6, options={"augment": True, "frames": 4, "frame_stride": 3})
    batch = next(iter(loader))
    row = batch["index"].tolist().index(1)  # the 5-frame video
    assert batch["frame_times_s"][row].tolist() == pytest.approx([0, 3 / FPS, 4 / FPS, 4 / FPS])


def test_augmented_clip_is_one_crop_flip_and_colour_across_frames(tmp_path):
    """A video whose frames are all alike must come out as identical frames when augmented."""
    data = write_video_dataset(tmp_path, [prepared_video(40, fps=FPS, width=WIDTH, height=HEIGHT, still_number=7),
                                          prepared_video(40, fps=FPS, width=WIDTH, height=HEIGHT)])
    loader = build_loader("clips", data, batch_size=2, options={"crop_px": 48, "frames": 6})
    for _ in range(3):
        batch = next(iter(loader))
        clip = batch["video"][batch["index"].tolist().index(0)]
        assert torch.allclose(clip, clip[:, :1].expand_as(clip), atol=2 / 255 / 0.225)
        other = batch["video"][batch["index"].tolist().index(1)]
        assert not torch.allclose(other[:, 0], other[:, 1])  # frames of a changing video do differ


SMALL = {"crop_px": 32, "frames": 4}
VIDEO_FAMILY_OPTIONS = {
    "clips": SMALL, "temporal": SMALL | {"far_clip": True, "min_far_gap_s": 1.0}, "audio": {"audio_s": 0.5},
    "av_pairs": SMALL | {"audio_s": 0.5, "hard_negative_fraction": 0.5}, "frame_order": {"crop_px": 32},
    "tracked_patches": {"patch_px": 32, "track_frames": 3},
}


@pytest.mark.parametrize("family", sorted(VIDEO_FAMILY_OPTIONS))
def test_video_and_audio_families_resume_exactly(coded_dataset, family):
    from mmssl.pipelines.loader import FAMILIES

    assert set(VIDEO_FAMILY_OPTIONS) == {name for name, f in FAMILIES.items() if f.members != ("jpg",)}
    assert_resumes_exactly(family, coded_dataset, 1, batch_size=2, options=VIDEO_FAMILY_OPTIONS[family], seed=3)


def test_clips_shard_disjointly_over_ranks(coded_dataset):
    per_rank = [[i for b in epoch(build_loader("clips", coded_dataset, batch_size=1, shard_id=r, num_shards=2,
                                               options={"crop_px": 16, "frames": 2})) for i in b["index"].tolist()]
                for r in range(2)]
    assert len(per_rank[0]) == len(per_rank[1]) == 3
    assert sorted(per_rank[0] + per_rank[1]) == list(range(6))


def test_temporal_clips_are_close_and_the_far_one_far(coded_dataset):
    options = {"augment": False, "crop_px": 64, "max_gap_s": 0.5, "far_clip": True, "min_far_gap_s": 2.0}
    loader = build_loader("temporal", coded_dataset, batch_size=3, options=options, seed=1)
    for batch in epoch(loader):
        for i, index in enumerate(batch["index"].tolist()):
            clips = {c: clip_numbers(batch[f"clip_{c}"][i], 64) for c in ("a", "b", "far")}
            times = {c: batch[f"frame_times_{c}_s"][i].tolist() for c in ("a", "b", "far")}
            for c in clips:
                assert clips[c] == [round(t * FPS) for t in times[c]], (index, c)
            gap, far_gap = batch["gap_s"][i].item(), batch["far_gap_s"][i].item()
            # float32 seconds: differences of frame times carry about 1e-7 s of rounding
            assert gap == pytest.approx(times["b"][0] - times["a"][0], abs=1e-6) and abs(gap) <= 0.5 + 1e-6
            assert far_gap == pytest.approx(times["far"][0] - times["a"][0], abs=1e-6)
            span_frames = 7 * 2 + 1
            if VIDEO_FRAMES[index] - span_frames >= 2 * 2.0 * FPS:  # long enough to always have a far start
                assert abs(far_gap) >= 2.0 - 1e-6, index


def test_temporal_decodes_each_video_once_for_all_its_clips(coded_dataset):
    from mmssl.data.member_table import MemberTable
    from mmssl.data.sample_plan import SamplePlan
    from mmssl.pipelines.sample_source import SampleSource
    from mmssl.pipelines.temporal import TemporalFeed, TemporalOptions

    options = TemporalOptions(far_clip=True, min_far_gap_s=2.0)
    table = MemberTable.open(coded_dataset)
    feed = TemporalFeed(options, "cpu")
    source = SampleSource(table, ("mp4",), SamplePlan(6, 2, seed=5), feed=feed)
    names = [o.name for o in source.outputs()]
    for position in range(2):
        slot = source.slot(0, 0, position)
        fed = dict(zip(names, slot.fed))
        for c in ("a", "b", "far"):
            numbers = [read_frame_number(f) for f in fed["frames"][fed[f"order_{c}"]]]
            assert numbers == [round(t * FPS) for t in fed[f"frame_times_{c}_s"]]
    assert feed.fetch.decoder.visits == 2  # two samples, three clips each, one decode per sample


def switch_times(log_mel: torch.Tensor, start_s: float) -> np.ndarray:
    """Times at which the dominant tone changes in a [1, mels, frames] log-mel, from its content."""
    mel = log_mel[0].numpy()
    audible = mel.max(axis=0) > -50
    tone = mel.argmax(axis=0) >= TONE_SPLIT_BIN
    frames = np.flatnonzero(audible[1:] & audible[:-1] & (tone[1:] != tone[:-1])) + 0.5
    return start_s + frames * HOP_S


def assert_switches_match(found: np.ndarray, events: np.ndarray, start_s: float, audio_s: float) -> None:
    """Every switch heard is one of `events`, and every event well inside the window is heard, within two hops."""
    inside = events[(events > start_s + 0.05) & (events < start_s + audio_s - 0.05)]
    assert len(inside) > 0, "the window should contain a tone switch"
    assert len(found) > 0 and np.abs(found[:, None] - events[None]).min(axis=1).max() <= 2 * HOP_S, (found, events)
    assert np.abs(inside[:, None] - found[None]).min(axis=1).max() <= 2 * HOP_S, (found, inside)


@pytest.mark.parametrize("augment", [False, True])
def test_audio_switches_appear_where_audio_start_s_says(coded_dataset, augment):
    loader = build_loader("audio", coded_dataset, batch_size=2, options={"augment": augment, "audio_s": 1.5})
    seen = []
    for batch in epoch(loader):
        assert batch["audio"].shape[1:] == (1, 64, 151)
        for log_mel, start_s, index in zip(batch["audio"], batch["audio_start_s"].tolist(), batch["index"].tolist()):
            if VIDEO_FRAMES[index] / FPS < 1.5:
                continue  # the short video: its window is mostly silence
            assert_switches_match(switch_times(log_mel, start_s), tone_events(index), start_s, 1.5)
            seen.append(index)
    assert set(seen) == {0, 2, 3, 4}  # the silent video is never an audio sample (the epoch pads by repeating)


def test_audio_decibels_are_not_normalised_per_window(tmp_path):
    from fixtures_video import decoded_audio, flac_bytes

    loud = prepared_video(48, fps=FPS, width=WIDTH, height=HEIGHT, audio_events_s=(5.0,))
    samples, rate = decoded_audio(loud.flac)
    quiet = {"mp4": loud.mp4, "flac": flac_bytes(samples / 4, rate)}
    data = write_video_dataset(tmp_path, [loud, quiet])
    batch = next(iter(build_loader("audio", data, batch_size=2, options={"augment": False, "audio_s": 1.0})))
    peak = {index: log_mel.amax().item() for log_mel, index in zip(batch["audio"], batch["index"].tolist())}
    assert peak[0] - peak[1] == pytest.approx(20 * np.log10(4), abs=0.5)


def clip_window(times: list[float]) -> tuple[float, float]:
    return times[0], times[-1] + 1 / FPS


@pytest.mark.parametrize("kind", ["positive", "hard", "easy"])
def test_av_pairs_are_what_their_labels_say(coded_dataset, kind):
    audio_s, min_shift_s = 1.0, 1.0
    options = {"augment": False, "crop_px": 64, "audio_s": audio_s, "min_shift_s": min_shift_s,
               "negative_fraction": 0.0 if kind == "positive" else 1.0,
               "hard_negative_fraction": 1.0 if kind == "hard" else 0.0}
    checked = {"positive": 0, "hard": 0, "easy": 0}
    for seed in (0, 1):
        for batch in epoch(build_loader("av_pairs", coded_dataset, batch_size=5, options=options, seed=seed)):
            for i, index in enumerate(batch["index"].tolist()):
                times = batch["frame_times_s"][i].tolist()
                assert clip_numbers(batch["video"][i], 64) == [round(t * FPS) for t in times]
                start_s, source = batch["audio_start_s"][i].item(), batch["audio_index"][i].item()
                match, offset_s = batch["match"][i].item(), batch["offset_s"][i].item()
                clip_start, clip_end = clip_window(times)
                room_s = max(VIDEO_FRAMES[index] / FPS - audio_s, 0)
                aligned = min(max((clip_start + clip_end) / 2 - audio_s / 2, 0), room_s)
                can_shift = aligned - min_shift_s >= 0.05 or aligned + min_shift_s <= room_s - 0.05
                if kind == "positive":
                    assert match == 1 and source == index and offset_s == 0
                    assert start_s == pytest.approx(aligned, abs=0.03)
                    assert start_s < clip_end and start_s + audio_s > clip_start  # the window overlaps the clip
                elif source == index:  # a hard negative: the same video, shifted
                    assert kind == "hard" and match == 0 and abs(offset_s) >= min_shift_s - 1e-4
                    assert start_s - offset_s == pytest.approx(aligned, abs=0.03)
                else:  # an easy negative: another video's sound (for hard ones, only when no shift fits)
                    assert match == 0 and offset_s == 0 and source not in SILENT
                    assert kind == "easy" or not can_shift
                label = "positive" if match else "hard" if source == index else "easy"
                if VIDEO_FRAMES[source] / FPS >= audio_s + 0.2:  # from content: the sound is the source's, there
                    found = switch_times(batch["audio"][i], start_s)
                    assert_switches_match(found, tone_events(source), start_s, audio_s)
                    checked[label] += 1
    assert checked[kind] >= 4


def test_av_pairs_curriculum_raises_the_hard_share():
    from mmssl.pipelines.av_pairs import AVPairsOptions

    options = AVPairsOptions(hard_negative_fraction=0.6, curriculum_start_epoch=2, curriculum_ramp_epochs=3)
    assert [options.hard_fraction_at(e) for e in range(7)] == pytest.approx([0, 0, 0.2, 0.4, 0.6, 0.6, 0.6])


def test_frame_order_tuples_come_from_the_moving_part_and_match_their_labels(tmp_path):
    """A video that stands still for its first 60 frames, then changes every frame: tuples must come
    from the changing part; label 1 tuples are in order, label 0 ones have a wrong middle frame."""
    video = prepared_video(120, fps=FPS, width=WIDTH, height=HEIGHT, still_number=0, still_frames=60)
    data = write_video_dataset(tmp_path, [video] * 4)
    loader = build_loader("frame_order", data, batch_size=4, seed=4,
                          options={"augment": False, "crop_px": 64, "motion_windows": 6, "frame_stride": 3})
    labels = []
    for _ in range(3):
        for batch in loader:
            assert batch["frames"].shape[1:] == (3, 3, 64, 64) and "candidates" not in batch
            for frames, times, label in zip(batch["frames"], batch["frame_times_s"], batch["label"].tolist()):
                numbers = clip_numbers(frames.movedim(0, 1), 64)
                assert numbers == [round(t * FPS) for t in times.tolist()]
                assert min(numbers) >= 60  # the most moving window lies wholly in the changing part
                in_order = numbers[0] < numbers[1] < numbers[2]
                assert in_order == (label == 1)
                assert abs(numbers[2] - numbers[0]) == 2 * 3  # the end frames are b and d
                labels.append(label)
    assert 0 < sum(labels) < len(labels)  # both kinds are made


def test_tracked_box_follows_a_moving_object_and_a_static_one_is_flagged(tmp_path):
    from fixtures_video import moving_square_video

    velocity, start, size = (3, 2), (40, 30), 56
    data = write_video_dataset(tmp_path, [moving_square_video(30, velocity, start, size),
                                          moving_square_video(30, (0, 0), start, size, seed=1)])
    k = 6
    loader = build_loader("tracked_patches", data, batch_size=2, seed=0,
                          options={"patch_px": 40, "track_frames": k, "search_px": 12})
    for _ in range(3):
        batch = next(iter(loader))
        moving, still = (batch["index"].tolist().index(i) for i in (0, 1))
        frame_a = round(batch["time_a_s"][moving].item() * FPS)
        assert round(batch["time_b_s"][moving].item() * FPS) == frame_a + k
        box_a, box_b = batch["box_a"][moving], batch["box_b"][moving]
        object_x0, object_y0 = start[0] + frame_a * velocity[0], start[1] + frame_a * velocity[1]
        centre = (box_a[:2] + box_a[2:]) / 2
        assert object_x0 <= centre[0] <= object_x0 + size and object_y0 <= centre[1] <= object_y0 + size
        truth = box_a + torch.tensor([velocity[0] * k, velocity[1] * k] * 2)
        assert (box_b - truth).abs().max() <= 3, (box_a, box_b, truth)
        assert batch["tracked"][moving] == 1 and batch["confidence"][moving] > 0.8
        assert batch["tracked"][still] == 0  # nothing moves: flagged
        assert batch["patch_a"].shape[1:] == (3, 40, 40)
        # the patches show the same texture: pixels agree once the motion is undone
        assert (batch["patch_a"][moving] - batch["patch_b"][moving]).abs().mean() < 0.2


def test_resized_patches_are_the_tracked_windows_scaled_down(tmp_path):
    """resize_px: the tracker follows the same patch_px windows (same boxes, times, trust), and each patch
    is its window resized with antialiasing (normalising commutes with the resize: both are linear)."""
    import torch.nn.functional as F
    from fixtures_video import moving_square_video

    data = write_video_dataset(tmp_path, [moving_square_video(30, (3, 2), (40, 30), 56),
                                          moving_square_video(30, (0, 0), (30, 40), 56, seed=1)])
    options = {"patch_px": 40, "track_frames": 4, "search_px": 12}
    plain = next(iter(build_loader("tracked_patches", data, batch_size=2, seed=0, options=options)))
    resized = next(iter(build_loader("tracked_patches", data, batch_size=2, seed=0, options=dict(options, resize_px=20))))
    for key in ("box_a", "box_b", "time_a_s", "time_b_s", "index", "tracked", "confidence"):
        assert torch.equal(plain[key], resized[key]), key
    for key in ("patch_a", "patch_b"):
        assert resized[key].shape[1:] == (3, 20, 20)
        expected = F.interpolate(plain[key], size=(20, 20), mode="bilinear", antialias=True, align_corners=False)
        assert (resized[key] - expected).abs().max() < 1e-4, key
        # and not merely any 20 px picture: a plain subsampling differs
        assert (resized[key] - plain[key][..., ::2, ::2]).abs().max() > 0.05
    with pytest.raises(ValueError, match="resize_px"):
        build_loader("tracked_patches", data, batch_size=2, options=dict(options, resize_px=4))


def test_tracked_patch_jitter_changes_colours_not_boxes(tmp_path):
    """The tracker runs on the decoded frames: with colour jitter the boxes and times are the same,
    the patches are not, and the two patches of one pair get different draws."""
    from fixtures_video import moving_square_video

    data = write_video_dataset(tmp_path, [moving_square_video(30, (3, 2), (40, 30), 56),
                                          moving_square_video(30, (3, 1), (30, 40), 56, seed=1)])
    options = {"patch_px": 40, "track_frames": 4, "search_px": 12}
    plain = next(iter(build_loader("tracked_patches", data, batch_size=2, seed=0, options=options)))
    jitter = {"hue": 0.5, "grayscale_p": 0.0, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0}
    loader = build_loader("tracked_patches", data, batch_size=2, seed=0, options=dict(options, color_jitter=jitter))
    jittered = next(iter(loader))
    for key in ("box_a", "box_b", "time_a_s", "index", "tracked"):
        assert torch.equal(plain[key], jittered[key]), key
    assert (plain["patch_a"] - jittered["patch_a"]).abs().mean() > 0.05
    # hue turns keep brightness: the luma of each pixel is unchanged (within rounding and clamping)
    luma = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[None, :, None, None]
    mean = torch.tensor([0.485, 0.456, 0.406])[None, :, None, None]
    pixels = {name: ((batch["patch_a"] * std + mean) * luma).sum(1) for name, batch in (("p", plain), ("j", jittered))}
    assert (pixels["p"] - pixels["j"]).abs().median() < 0.02


@pytest.mark.gpu
@pytest.mark.parametrize("family", ["clips", "temporal", "frame_order", "av_pairs"])
def test_gpu_decodes_the_same_frames_as_cpu(coded_dataset, family):
    """NVDEC (mixed) and decord return the same frames for the same planned request."""
    options = {"augment": False, "crop_px": 64}
    if family == "av_pairs":
        options |= {"audio_s": 1.0}
    cpu = next(iter(build_loader(family, coded_dataset, batch_size=3, options=options, seed=2)))
    gpu = next(iter(build_loader(family, coded_dataset, batch_size=3, options=options, seed=2, device="gpu",
                                 device_id=0)))
    assert cpu.keys() == gpu.keys()
    key = {"clips": "video", "temporal": "clip_a", "frame_order": "frames", "av_pairs": "video"}[family]
    for name in cpu:
        assert gpu[name].is_cuda and gpu[name].shape == cpu[name].shape, name
    for i in range(3):
        clip_cpu, clip_gpu = cpu[key][i], gpu[key][i].cpu()
        if family == "frame_order":
            clip_cpu, clip_gpu = clip_cpu.movedim(0, 1), clip_gpu.movedim(0, 1)
        assert clip_numbers(clip_gpu, 64) == clip_numbers(clip_cpu, 64)
    if family == "av_pairs":
        assert torch.allclose(cpu["audio"], gpu["audio"].cpu(), atol=0.5)


@pytest.mark.gpu
def test_gpu_tracker_follows_the_moving_object(tmp_path):
    from fixtures_video import moving_square_video

    data = write_video_dataset(tmp_path, [moving_square_video(30), moving_square_video(30, (0, 0), seed=1)])
    options = {"patch_px": 40, "track_frames": 6, "search_px": 12}
    cpu = next(iter(build_loader("tracked_patches", data, batch_size=2, options=options)))
    gpu = next(iter(build_loader("tracked_patches", data, batch_size=2, options=options, device="gpu", device_id=0)))
    assert gpu["box_b"].is_cuda
    assert (gpu["box_b"].cpu() - cpu["box_b"]).abs().max() <= 2 and torch.equal(gpu["tracked"].cpu(), cpu["tracked"])
