"""`clips`: one clip per video, for video instance discrimination and video backbones.

Outputs: video [B, 3, T, crop_px, crop_px] float32 normalised; frame_times_s [B, T] float32, the
presentation time of each returned frame in seconds from the video's start (frame k at k / fps;
prepared videos have a constant frame rate). The loader adds index and row.
Options (`ClipOptions`): frames (T, 8), frame_stride (2), crop_px (112), augment (True: random
resized crop, flip and colour jitter shared by the clip's frames; False: centre crop, no colour
change, and the clip taken from the middle of the video).
"""

from __future__ import annotations

import numpy as np
import nvidia.dali.types as types

from mmssl.pipelines import clip_sampling as sampling
from mmssl.pipelines.feeds import FeedOutput, FeedRequest
from mmssl.pipelines.video_frames import ClipOptions, FrameFetch, clip_view, decoded_frames, pick_frames, read_video_info

CLIPS_OUTPUTS = ("video", "frame_times_s")
VIDEO_MEMBERS = ("mp4",)


def plan_clip(request: FeedRequest, options: ClipOptions, num_frames: int) -> np.ndarray:
    """Frame numbers of one clip: a random start where it fits, or the middle one without augmentation."""
    span = sampling.clip_span(options.frames, options.frame_stride)
    start = sampling.random_start(request.rng, num_frames, span) if options.augment else sampling.centre_start(num_frames, span)
    return sampling.clip_frames(start, options.frames, options.frame_stride, num_frames)


class ClipsFeed:
    def __init__(self, options: ClipOptions, device: str):
        self.options, self.fetch = options, FrameFetch(device, options.decode_time_limit_s)

    def outputs(self) -> tuple[FeedOutput, ...]:
        return (*self.fetch.outputs(), FeedOutput("order", types.INT32), FeedOutput("frame_times_s", types.FLOAT))

    def __call__(self, request: FeedRequest) -> tuple[np.ndarray, ...]:
        mp4 = request.members["mp4"]
        info = read_video_info(mp4)
        clip = plan_clip(request, self.options, info.num_frames)
        wanted, (order,) = sampling.unique_request(clip)
        return (*self.fetch(mp4, wanted), order, sampling.frame_times_s(clip, info.fps))


def clips_graph(fed: dict, options: ClipOptions, device: str):
    clip = pick_frames(decoded_frames(fed, device), fed["order"])
    return clip_view(clip, options), fed["frame_times_s"]
