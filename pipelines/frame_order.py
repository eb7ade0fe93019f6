"""`frame_order` (Shuffle & Learn): is a tuple of three frames in temporal order?

Outputs: frames [B, 3, 3, crop, crop] float32 normalised (tuple position, channel, height, width;
one crop, flip and colour for the whole tuple); label [B] (1: the frames are in order, 0: shuffled);
frame_times_s [B, 3], each frame's time; motion [B], the motion score of the window they came from.

How a tuple is made: the feed plans `motion_windows` candidate windows of five frames a < b < c < d
< e (`frame_stride` frames apart) and fetches all of them in one visit; the graph crops and
normalises them as one sequence; then, on the pipeline's device, the loader measures each window's
motion (mean absolute change between its consecutive frames, from the decoded pixels) and keeps the
window that moves most. In order is (b, c, d); shuffled is (b, a, d) or (b, e, d), as in the paper,
so a shuffled tuple has the same end frames and a wrong middle one.
Options: frames are always three; frame_stride (4), crop_px (112), augment, motion_windows (3),
shuffled_fraction (0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import nvidia.dali.fn as fn
import nvidia.dali.types as types
import torch

from mmssl.data.media_info import VideoInfo
from mmssl.pipelines import clip_sampling as sampling
from mmssl.pipelines import ops
from mmssl.pipelines.feeds import FeedOutput, FeedRequest
from mmssl.pipelines.video_frames import ClipOptions, FrameFetch, decoded_frames, pick_frames, read_video_info

FRAME_ORDER_OUTPUTS = ("candidates", "candidate_times_s", "pattern", "label")  # what the graph returns
WINDOW_FRAMES = 5  # a, b, c, d, e
IN_ORDER, MIDDLE_BEFORE, MIDDLE_AFTER = (1, 2, 3), (1, 0, 3), (1, 4, 3)


@dataclass(frozen=True)
class FrameOrderOptions(ClipOptions):
    frames: int = 3
    frame_stride: int = 4
    motion_windows: int = 3
    shuffled_fraction: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        if self.frames != 3:
            raise ValueError(f"frame_order makes tuples of 3 frames, got frames={self.frames}")
        if self.motion_windows < 1 or not 0 <= self.shuffled_fraction <= 1:
            raise ValueError(f"need motion_windows >= 1 and shuffled_fraction in [0, 1], got {self.motion_windows}, "
                             f"{self.shuffled_fraction}")


class FrameOrderFeed:
    def __init__(self, options: FrameOrderOptions, device: str):
        self.options, self.fetch = options, FrameFetch(device, options.decode_time_limit_s)

    def outputs(self) -> tuple[FeedOutput, ...]:
        return (*self.fetch.outputs(), FeedOutput("order", types.INT32), FeedOutput("candidate_times_s", types.FLOAT),
                FeedOutput("pattern", types.INT64), FeedOutput("label", types.INT64))

    def __call__(self, request: FeedRequest) -> tuple[np.ndarray, ...]:
        mp4 = request.members["mp4"]
        info = read_video_info(mp4)
        windows, pattern, shuffled = plan_frame_order(request.rng, self.options, info)
        wanted, orders = sampling.unique_request(*windows)
        times = sampling.frame_times_s(np.concatenate(windows), info.fps)
        return (*self.fetch(mp4, wanted), np.concatenate(orders), times, np.array(pattern, np.int64),
                np.array(0 if shuffled else 1, np.int64))


def plan_frame_order(rng: np.random.Generator, options: FrameOrderOptions, info: VideoInfo):
    """Frame numbers of the candidate windows, the tuple's pattern, and whether it is shuffled (shared with the
    torch baseline, so both loaders decode the same frames)."""
    o = options
    span = sampling.clip_span(WINDOW_FRAMES, o.frame_stride)
    latest = sampling.last_start(info.num_frames, span)
    if o.augment:
        starts = rng.integers(0, latest + 1, size=o.motion_windows)
    else:
        starts = np.linspace(0, latest, o.motion_windows).round().astype(np.int64)
    windows = [sampling.clip_frames(int(s), WINDOW_FRAMES, o.frame_stride, info.num_frames) for s in starts]
    shuffled = rng.random() < o.shuffled_fraction
    pattern = (MIDDLE_BEFORE if rng.random() < 0.5 else MIDDLE_AFTER) if shuffled else IN_ORDER
    return windows, pattern, shuffled


def frame_order_graph(fed: dict, options: FrameOrderOptions, device: str):
    frames = pick_frames(decoded_frames(fed, device), fed["order"])
    size = options.crop_px
    if options.augment:
        frames = ops.color_jitter(ops.random_resized_crop(frames, size, options.crop_scale), options.color_jitter)
        mirror = fn.random.coin_flip()
    else:
        frames = fn.crop(fn.resize(frames, resize_shorter=size, antialias=True), crop=[size, size])
        mirror = 0
    candidates = ops.normalize(frames, mirror=mirror, sequence=True)
    return candidates, fed["candidate_times_s"], fed["pattern"], fed["label"]


def choose_tuples(batch: dict[str, torch.Tensor], options: FrameOrderOptions) -> dict[str, torch.Tensor]:
    """Keep each sample's most moving window and arrange its frames by the planned pattern."""
    count = batch["candidates"].shape[0]
    candidates = batch.pop("candidates").unflatten(1, (options.motion_windows, WINDOW_FRAMES))
    times = batch.pop("candidate_times_s").unflatten(1, (options.motion_windows, WINDOW_FRAMES))
    motion = (candidates[:, :, 1:] - candidates[:, :, :-1]).abs().mean(dim=(2, 3, 4, 5))  # [B, windows]
    best = motion.argmax(dim=1)
    rows = torch.arange(count, device=best.device)
    pattern = batch.pop("pattern").to(best.device)
    batch["frames"] = candidates[rows, best][rows[:, None], pattern]
    batch["frame_times_s"] = times[rows, best].gather(1, pattern)
    batch["motion"] = motion[rows, best]
    return batch
