"""`tracked_patches` (Wang & Gupta 2015, online): a patch and the patch it became k frames later.

Outputs: patch_a, patch_b [B, 3, S, S] float32 normalised, S = resize_px or patch_px (patch_a from
frame t, patch_b from frame t + k); box_a, box_b [B, 4] float32 (x0, y0, x1, y1 in pixels of the decoded
frames); time_a_s, time_b_s [B]; confidence [B], the weakest normalised cross-correlation peak
along the track (1 = a perfect match at every step); motion [B], the mean absolute change (0..255)
of the first patch between frames t and t + 1; tracked [B] (1: trust the pair; 0: a pair from a
static region or a track that lost confidence, to drop or down-weight).

How: the feed plans frames t..t+k (`track_frames` = k, `frame_stride` apart) and fetches them in
one visit; the graph pads them to the batch's largest frame (so boxes stay in decoded pixels);
then, batched on the pipeline's device, the loader picks in each video the patch window that
moves most between frames t and t + 1, and follows it frame by frame with normalised
cross-correlation template matching (the template is the patch found in the previous frame;
the search reaches `search_px` pixels each way). Options: patch_px (64, the tracked window in decoded
pixels), resize_px (None; else the window is resized to this size, antialiased, as Wang & Gupta resize
their tracked boxes to the network's input), track_frames (8), frame_stride (1), search_px (16),
min_confidence (0.6), min_motion (2.0), augment (random start),
color_jitter (None: off; else each patch jittered on its own, drawn from a generator seeded by the
batch's sample indices and times, so a replayed batch gets the same jitter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import nvidia.dali.fn as fn
import nvidia.dali.types as types
import torch
import torch.nn.functional as F

from mmssl.data.media_info import VideoInfo
from mmssl.pipelines import clip_sampling as sampling
from mmssl.pipelines import ops
from mmssl.pipelines.feeds import FeedOutput, FeedRequest, SampleRejected
from mmssl.pipelines.torch_color_jitter import jitter_images
from mmssl.pipelines.video_decode import DEFAULT_TIME_LIMIT_S
from mmssl.pipelines.video_frames import FrameFetch, decoded_frames, pick_frames, read_video_info

TRACK_GRAPH_OUTPUTS = ("track_frames", "track_times_s", "frame_size")
MOTION_STEP_PX = 4  # candidate patch windows are this many pixels apart


@dataclass(frozen=True)
class TrackedPatchesOptions:
    patch_px: int = 64
    resize_px: int | None = None  # None: patches keep patch_px
    track_frames: int = 8
    frame_stride: int = 1
    search_px: int = 16
    min_confidence: float = 0.6
    min_motion: float = 2.0
    augment: bool = True
    # None: patches as tracked. Else an independent colour jitter of each patch (with augment): where
    # every frame of a video shares its colours, colour alone would pair a patch with its track
    color_jitter: ops.ColorJitter | None = None
    decode_time_limit_s: float = DEFAULT_TIME_LIMIT_S

    def __post_init__(self):
        if self.patch_px < 8 or self.track_frames < 1 or self.frame_stride < 1 or self.search_px < 1:
            raise ValueError("need patch_px >= 8, track_frames >= 1, frame_stride >= 1 and search_px >= 1")
        if self.resize_px is not None and self.resize_px < 8:
            raise ValueError(f"resize_px must be None or >= 8, got {self.resize_px}")
        if not -1 <= self.min_confidence <= 1 or self.min_motion < 0:
            raise ValueError(f"need min_confidence in [-1, 1] and min_motion >= 0, got {self.min_confidence}, "
                             f"{self.min_motion}")


class TrackedPatchesFeed:
    def __init__(self, options: TrackedPatchesOptions, device: str):
        self.options, self.fetch = options, FrameFetch(device, options.decode_time_limit_s)

    def outputs(self) -> tuple[FeedOutput, ...]:
        return (*self.fetch.outputs(), FeedOutput("order", types.INT32), FeedOutput("track_times_s", types.FLOAT),
                FeedOutput("frame_size", types.INT64))

    def __call__(self, request: FeedRequest) -> tuple[np.ndarray, ...]:
        mp4 = request.members["mp4"]
        info = read_video_info(mp4)
        frames = plan_track(request.rng, self.options, info)
        wanted, (order,) = sampling.unique_request(frames)
        return (*self.fetch(mp4, wanted), order, sampling.frame_times_s(frames, info.fps),
                np.array([info.height, info.width], np.int64))


def plan_track(rng: np.random.Generator, options: TrackedPatchesOptions, info: VideoInfo) -> np.ndarray:
    """Frame numbers t..t+k of the track (shared with the torch baseline); too small a video is rejected."""
    o = options
    if min(info.width, info.height) < o.patch_px:
        raise SampleRejected(f"mp4: frames of {info.width}x{info.height} are smaller than patch_px={o.patch_px}")
    span = sampling.clip_span(o.track_frames + 1, o.frame_stride)
    start = sampling.random_start(rng, info.num_frames, span) if o.augment else \
        sampling.centre_start(info.num_frames, span)
    return sampling.clip_frames(start, o.track_frames + 1, o.frame_stride, info.num_frames)


def tracked_patches_graph(fed: dict, options: TrackedPatchesOptions, device: str):
    frames = pick_frames(decoded_frames(fed, device), fed["order"])
    return fn.pad(frames, axis_names="HW"), fed["track_times_s"], fed["frame_size"]


def _crops(images: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, size: int) -> torch.Tensor:
    """[B, size, size, ...] windows of [B, H, W, ...] images at per-sample top-left corners (inside the image)."""
    steps = torch.arange(size, device=images.device)
    rows = (y0[:, None] + steps)[:, :, None]
    cols = (x0[:, None] + steps)[:, None, :]
    return images[torch.arange(images.shape[0], device=images.device)[:, None, None], rows, cols]


def _window_means(images: torch.Tensor, size: int, stride: int = 1) -> torch.Tensor:
    """Mean of every [size, size] window of [B, H, W] images, windows `stride` apart: [B, H', W'].

    From a summed-area table (in float64, so sums of squares of 0..255 pixels stay exact): the cost does
    not grow with the window, where avg_pool2d's does (a 112 px window was 30x slower on a CPU)."""
    table = F.pad(images.double().cumsum(1).cumsum(2), (1, 0, 1, 0))
    sums = (table[:, size:, size:] - table[:, :-size, size:] - table[:, size:, :-size] + table[:, :-size, :-size])
    return (sums[:, ::stride, ::stride] / (size * size)).to(images.dtype)


def _ncc_peak(search: torch.Tensor, template: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalised cross-correlation of each [S, S] search area with its [P, P] template: (peak, dy, dx)."""
    count, size = template.shape[0], template.shape[-1]
    centred = template - template.mean(dim=(1, 2), keepdim=True)
    products = F.conv2d(search[None], centred[:, None], groups=count)[0]  # [B, S-P+1, S-P+1]
    local_mean = _window_means(search, size)
    local_var = (_window_means(search ** 2, size) - local_mean ** 2).clamp_min(0)
    norm = (local_var * size * size).sqrt() * centred.flatten(1).norm(dim=1)[:, None, None]
    ncc = products / norm.clamp_min(1e-6)
    peak, where = ncc.flatten(1).max(dim=1)
    return peak, where // ncc.shape[-1], where % ncc.shape[-1]


def track(frames: torch.Tensor, frame_size: torch.Tensor, options: TrackedPatchesOptions):
    """Boxes (x0, y0) per frame, confidence and motion of the most moving patch of [B, K, H, W] grey frames."""
    count, _, height, width = frames.shape
    size, reach = options.patch_px, options.search_px
    moving = (frames[:, 1] - frames[:, 0]).abs()
    score = _window_means(moving, size, stride=MOTION_STEP_PX)  # mean motion of each window
    ys = torch.arange(score.shape[1], device=frames.device) * MOTION_STEP_PX
    xs = torch.arange(score.shape[2], device=frames.device) * MOTION_STEP_PX
    inside = ((ys[None, :, None] + size <= frame_size[:, 0, None, None])
              & (xs[None, None, :] + size <= frame_size[:, 1, None, None]))
    score = score.masked_fill(~inside, -1.0)
    best = score.flatten(1).argmax(dim=1)
    y, x = ys[best // score.shape[2]], xs[best % score.shape[2]]
    motion = score.flatten(1).max(dim=1).values
    padded = F.pad(frames, (reach, reach, reach, reach), mode="replicate")
    boxes, confidence = [(x, y)], torch.ones(count, device=frames.device)
    for step in range(1, frames.shape[1]):
        template = _crops(frames[:, step - 1], x, y, size)
        search = _crops(padded[:, step], x, y, size + 2 * reach)  # padded coordinates: shifted by reach
        peak, dy, dx = _ncc_peak(search, template)
        y = torch.minimum((y + dy - reach).clamp_min(0), frame_size[:, 0] - size)
        x = torch.minimum((x + dx - reach).clamp_min(0), frame_size[:, 1] - size)
        boxes.append((x, y))
        confidence = torch.minimum(confidence, peak)
    return boxes, confidence, motion


def _jitter_generator(batch: dict[str, torch.Tensor], times_s: torch.Tensor) -> torch.Generator:
    """A generator seeded by which samples and moments the batch holds (the plan's, so reproducible)."""
    index = batch["index"].cpu().long() if "index" in batch else torch.arange(len(times_s))
    milliseconds = (times_s[:, 0].cpu().double() * 1000).round().long()
    seed = int(((index * 1_000_003 + milliseconds) * torch.arange(1, len(index) + 1)).sum()) % (2 ** 63)
    return torch.Generator().manual_seed(seed)


def _resized(patches: torch.Tensor, size: int) -> torch.Tensor:
    """[B, P, P, 3] float patches -> [B, size, size, 3], bilinear with antialiasing (as DALI's resize)."""
    resized = F.interpolate(patches.permute(0, 3, 1, 2), size=(size, size), mode="bilinear", antialias=True,
                            align_corners=False)
    return resized.clamp(0, 255).permute(0, 2, 3, 1)


def track_patches(batch: dict[str, torch.Tensor], options: TrackedPatchesOptions) -> dict[str, torch.Tensor]:
    """The loader's batched step: track, then cut and normalise the first and last patches."""
    frames = batch.pop("track_frames")  # [B, K, H, W, 3] uint8
    times, frame_size = batch.pop("track_times_s"), batch.pop("frame_size")
    grey = frames.float().mean(dim=-1)
    boxes, confidence, motion = track(grey, frame_size, options)
    size = options.patch_px
    mean = torch.tensor(ops.IMAGENET_MEAN, device=frames.device) * 255
    std = torch.tensor(ops.IMAGENET_STD, device=frames.device) * 255
    generator = _jitter_generator(batch, times) if options.color_jitter is not None and options.augment else None
    for name, frame, (x, y) in (("a", 0, boxes[0]), ("b", -1, boxes[-1])):
        patch = _crops(frames[:, frame], x, y, size).float()
        if options.resize_px is not None and options.resize_px != size:
            patch = _resized(patch, options.resize_px)
        if generator is not None:
            patch = jitter_images(patch, options.color_jitter, generator)
        batch[f"patch_{name}"] = ((patch - mean) / std).permute(0, 3, 1, 2).contiguous()
        batch[f"box_{name}"] = torch.stack([x, y, x + size, y + size], dim=1).float()
    batch["time_a_s"], batch["time_b_s"] = times[:, 0], times[:, -1]
    batch["confidence"], batch["motion"] = confidence, motion
    batch["tracked"] = ((confidence >= options.min_confidence) & (motion >= options.min_motion)).long()
    return batch
