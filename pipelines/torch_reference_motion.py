"""`frame_order` and `tracked_patches` for the torch baseline: decord + torchvision, then the motion step.

Each sample is planned by the DALI feed's own planning function with the slot's generator
(`plan_frame_order`, `plan_track`), its frames decoded in one decord visit, and then the same torch
step the DALI loader runs on its batch (`choose_tuples`, `track_patches`) runs on this one sample in
the DataLoader worker, where a user without DALI would put it. Both loaders do the same work; only
where it runs differs.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision import tv_tensors

from mmssl.pipelines import clip_sampling as sampling
from mmssl.pipelines.feeds import FeedRequest
from mmssl.pipelines.frame_order import FrameOrderOptions, choose_tuples, plan_frame_order
from mmssl.pipelines.torch_reference_video import TorchFeed, clip_transform, decode_clips
from mmssl.pipelines.tracked_patches import TrackedPatchesOptions, plan_track, track_patches
from mmssl.pipelines.video_frames import read_video_info


def first_sample(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The one sample of a batch of one, as the DataLoader expects it before collating."""
    return {name: tensor[0] for name, tensor in batch.items()}


class TorchFrameOrderFeed(TorchFeed):
    """Candidate windows decoded together, augmented as one sequence, the most moving one kept."""

    def __init__(self, options: FrameOrderOptions):
        self.options, self.transform = options, clip_transform(options)

    def __call__(self, request: FeedRequest) -> tuple[dict]:
        mp4 = request.members["mp4"]
        info = read_video_info(mp4)
        windows, pattern, shuffled = plan_frame_order(request.rng, self.options, info)
        planned = np.concatenate(windows)
        (frames,) = decode_clips(mp4, planned)
        candidates = self.transform(tv_tensors.Video(frames)).as_subclass(torch.Tensor)  # one crop for the tuple
        batch = {"candidates": candidates[None],
                 "candidate_times_s": torch.from_numpy(sampling.frame_times_s(planned, info.fps))[None],
                 "pattern": torch.tensor([pattern]), "label": torch.tensor([0 if shuffled else 1])}
        return (first_sample(choose_tuples(batch, self.options)),)


class TorchTrackedPatchesFeed(TorchFeed):
    """Frames t..t+k decoded in one visit, then the most moving patch tracked and cut."""

    def __init__(self, options: TrackedPatchesOptions):
        self.options = options

    def __call__(self, request: FeedRequest) -> tuple[dict]:
        mp4 = request.members["mp4"]
        info = read_video_info(mp4)
        planned = plan_track(request.rng, self.options, info)
        (frames,) = decode_clips(mp4, planned)
        batch = {"track_frames": frames.permute(0, 2, 3, 1)[None],  # [1, K, H, W, 3] as the DALI graph's
                 "track_times_s": torch.from_numpy(sampling.frame_times_s(planned, info.fps))[None],
                 "frame_size": torch.tensor([[info.height, info.width]])}
        return (first_sample(track_patches(batch, self.options)),)


MOTION_FEEDS = {"frame_order": TorchFrameOrderFeed, "tracked_patches": TorchTrackedPatchesFeed}
