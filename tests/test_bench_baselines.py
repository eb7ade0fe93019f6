"""The torch baselines of audio, frame_order and tracked_patches: the DALI loader's names, shapes and
dtypes, and the same plan (same samples, same windows and frames) as the DALI CPU loader."""

import pytest
import torch

from mmssl.bench.demo_data import raw_videos, write_video_dataset
from mmssl.pipelines.loader import build_loader
from mmssl.pipelines.torch_reference_video import build_torch_video_loader

OPTIONS = {
    "audio": {"audio_s": 1.0, "n_mels": 32},
    "frame_order": {"crop_px": 32, "motion_windows": 2},
    "tracked_patches": {"patch_px": 32, "track_frames": 3, "search_px": 8},
}
PLANNED = {"audio": ("audio_start_s",), "frame_order": ("label", "frame_times_s"),
           "tracked_patches": ("time_a_s", "time_b_s")}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return write_video_dataset(tmp_path_factory.mktemp("bench_videos"), raw_videos(2), gop_frames=8, copies=2).path


@pytest.mark.parametrize("pipeline", sorted(OPTIONS))
def test_baseline_matches_the_dali_loader(videos, pipeline):
    kwargs = dict(batch_size=4, seed=3, options=OPTIONS[pipeline])
    dali = next(iter(build_loader(pipeline, videos, num_threads=1, **kwargs)))
    reference = next(iter(build_torch_video_loader(pipeline, videos, num_workers=0, **kwargs)))
    assert dali.keys() == reference.keys()
    for name in dali:
        assert dali[name].shape == reference[name].shape, name
        assert dali[name].dtype == reference[name].dtype, name
    assert torch.equal(dali["index"], reference["index"])
    for name in PLANNED[pipeline]:  # planned by the same functions from the same slot generator
        assert torch.allclose(dali[name], reference[name]), name
