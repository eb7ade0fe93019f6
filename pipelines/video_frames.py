"""Video frames into a DALI graph, the same request on both devices, and the clip augmentation.

Feed side (`FrameFetch`): a request is a sorted list of distinct frame numbers, fetched in one
visit to the video. On the GPU the feed passes the encoded video and the frame numbers, and NVDEC
decodes them inside the graph (`fn.decoders.video`, "mixed"); on the CPU the feed decodes them
with decord in a guarded child process (DALI 2.4 decodes H.264 only on the GPU).

Graph side: `decoded_frames` yields the fetched frames as an FHWC sequence; each clip is then a
`fn.sequence_rearrange` of that sequence by the positions the feed planned, so a clip may repeat a
frame (a video shorter than the clip) and several clips share one decode. `clip_view` augments a
clip as one unit: the same random resized crop, flip and colour change on every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import nvidia.dali.fn as fn
import nvidia.dali.types as types

from mmssl.data.media_info import MediaInfoError, VideoInfo, video_info
from mmssl.pipelines import ops
from mmssl.pipelines.feeds import FeedOutput, SampleRejected
from mmssl.pipelines.video_decode import DEFAULT_TIME_LIMIT_S, GuardedVideoDecoder, VideoDecodeError

VIDEO_JITTER = ops.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, grayscale_p=0.2)


@dataclass(frozen=True)
class ClipOptions:
    """Options shared by every family that returns clips (names are part of the loader's contract)."""

    frames: int = 8
    frame_stride: int = 2
    crop_px: int = 112
    augment: bool = True  # False: resize the short side to crop_px, centre crop, no colour change
    crop_scale: tuple[float, float] = (0.25, 1.0)  # random resized crop area, as a fraction of the frame
    color_jitter: ops.ColorJitter = VIDEO_JITTER
    decode_time_limit_s: float = DEFAULT_TIME_LIMIT_S  # CPU decoding: longer counts as undecodable

    def __post_init__(self):
        if self.frames < 1 or self.frame_stride < 1 or self.crop_px < 8:
            raise ValueError(f"need frames >= 1, frame_stride >= 1 and crop_px >= 8, got {self.frames}, "
                             f"{self.frame_stride}, {self.crop_px}")
        object.__setattr__(self, "crop_scale", ops.check_scale("crop_scale", self.crop_scale))
        if self.decode_time_limit_s <= 0:
            raise ValueError(f"decode_time_limit_s must be > 0, got {self.decode_time_limit_s}")


def read_video_info(mp4: bytes) -> VideoInfo:
    """The video's frame count and rate from its header; a bad header rejects the sample."""
    try:
        return video_info(mp4)
    except MediaInfoError as error:
        raise SampleRejected(f"mp4: {error}") from None


class FrameFetch:
    """Source outputs that let the graph have frames `wanted` of a video, on `device`."""

    def __init__(self, device: str, time_limit_s: float = DEFAULT_TIME_LIMIT_S):
        self.device = device
        self.decoder = GuardedVideoDecoder(time_limit_s) if device == "cpu" else None

    def outputs(self) -> tuple[FeedOutput, ...]:
        if self.device == "cpu":
            return (FeedOutput("frames", types.UINT8, "FHWC"),)
        return FeedOutput("mp4", types.UINT8), FeedOutput("frame_numbers", types.INT32)

    def __call__(self, mp4: bytes, wanted: np.ndarray) -> tuple[np.ndarray, ...]:
        if self.decoder is None:
            return np.frombuffer(mp4, np.uint8), np.asarray(wanted, np.int32)
        try:
            return (self.decoder.decode(mp4, wanted),)
        except VideoDecodeError as error:
            raise SampleRejected(f"mp4: {error}") from None


def decoded_frames(fed: dict, device: str):
    """The fetched frames, FHWC uint8: NVDEC on the GPU, decord's output (fed) on the CPU."""
    if device == "gpu":
        return fn.decoders.video(fed["mp4"], device="mixed", frames=fed["frame_numbers"])
    return fed["frames"]


def pick_frames(frames, order):
    """The clip whose frame j is frame `order[j]` of the fetched sequence."""
    return fn.sequence_rearrange(frames, new_order=order)


def clip_view(clip, options: ClipOptions):
    """An FHWC uint8 clip -> float32 [3, T, crop, crop], normalised; one crop, flip, colour per clip."""
    size = options.crop_px
    mean, std = [m * 255 for m in ops.IMAGENET_MEAN], [s * 255 for s in ops.IMAGENET_STD]
    if not options.augment:
        clip = fn.resize(clip, resize_shorter=size, antialias=True)
        return fn.crop_mirror_normalize(clip, crop=[size, size], crop_pos_x=0.5, crop_pos_y=0.5, dtype=types.FLOAT,
                                        output_layout="CFHW", mean=mean, std=std)
    clip = ops.random_resized_crop(clip, size, options.crop_scale)
    clip = ops.color_jitter(clip, options.color_jitter)
    return fn.crop_mirror_normalize(clip, mirror=fn.random.coin_flip(), dtype=types.FLOAT, output_layout="CFHW",
                                    mean=mean, std=std)
