"""`av_pairs`: a clip and an audio window that match (same moment of one video) or do not.

Outputs: video [B, 3, T, crop, crop] and frame_times_s [B, T] as `clips`; audio [B, 1, n_mels,
n_frames] and audio_start_s [B] as `audio`; match [B] (1 positive, 0 negative); offset_s [B], the
audio window's start minus the aligned window's start (0 for positives; at least min_shift_s in
size for hard negatives; 0 for easy negatives, whose audio is another video's); audio_index [B],
the manifest index of the video the audio comes from (== index except for easy negatives).

Positives: the audio window centred on the clip (moved inside the audio near its ends), so it
overlaps the clip. Negatives (`negative_fraction` of samples): hard, the same video's audio
shifted by at least `min_shift_s` (AVTS-style), with probability `hard_negative_fraction` once the
curriculum allows it (0 before `curriculum_start_epoch`, then rising linearly over
`curriculum_ramp_epochs` epochs); otherwise easy, a window of another video's audio. A video too
short for a shifted window gets an easy negative instead; a dataset of one video, a positive.
Only videos with a FLAC member (videos with sound) are used, as clip sources and as audio sources.
Whether a slot is a negative, a hard one, and which videos an easy one borrows sound from are drawn
from the slot's seed alone (`pair_draw`), before its members are read, so on an object store the
other video's FLAC is fetched ahead with the slot's own members (`AVPairsFeed.borrows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import nvidia.dali.types as types

from mmssl.pipelines import clip_sampling as sampling
from mmssl.pipelines.clips import plan_clip
from mmssl.pipelines.feeds import FeedOutput, FeedRequest, SampleRejected
from mmssl.pipelines.log_mel import (
    AUDIO_WINDOW_OUTPUTS,
    AudioOptions,
    audio_window,
    log_mel,
    read_audio_info,
    start_sample,
)
from mmssl.pipelines.video_frames import ClipOptions, FrameFetch, clip_view, decoded_frames, pick_frames, read_video_info

AV_PAIRS_OUTPUTS = ("video", "frame_times_s", "audio", "audio_start_s", "match", "offset_s", "audio_index")
AV_MEMBERS = ("mp4", "flac")
EASY_NEGATIVE_TRIES = 8  # other videos tried for an easy negative before settling for what remains


@dataclass(frozen=True)
class AVPairsOptions(ClipOptions, AudioOptions):
    negative_fraction: float = 0.5
    hard_negative_fraction: float = 0.0
    min_shift_s: float = 1.0
    curriculum_start_epoch: int = 0
    curriculum_ramp_epochs: int = 0

    def __post_init__(self):
        ClipOptions.__post_init__(self)
        AudioOptions.__post_init__(self)
        for name in ("negative_fraction", "hard_negative_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.min_shift_s <= 0 or self.curriculum_start_epoch < 0 or self.curriculum_ramp_epochs < 0:
            raise ValueError("need min_shift_s > 0, curriculum_start_epoch >= 0 and curriculum_ramp_epochs >= 0")

    def hard_fraction_at(self, epoch: int) -> float:
        """Share of negatives that are hard in `epoch`, following the curriculum."""
        if epoch < self.curriculum_start_epoch:
            return 0.0
        ramp = min(1.0, (epoch - self.curriculum_start_epoch + 1) / self.curriculum_ramp_epochs) \
            if self.curriculum_ramp_epochs else 1.0
        return self.hard_negative_fraction * ramp


class AVPairsFeed:
    def __init__(self, options: AVPairsOptions, device: str):
        self.options, self.fetch = options, FrameFetch(device, options.decode_time_limit_s)

    def outputs(self) -> tuple[FeedOutput, ...]:
        return (*self.fetch.outputs(), FeedOutput("order", types.INT32), FeedOutput("frame_times_s", types.FLOAT),
                *AUDIO_WINDOW_OUTPUTS, FeedOutput("match", types.INT64), FeedOutput("offset_s", types.FLOAT),
                FeedOutput("audio_index", types.INT64))

    def borrows(self, seed: tuple[int, ...], epoch: int, row: int, num_rows: int) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """The other video (row) whose sound the slot of `seed` will take first, if it is an easy negative."""
        draw = pair_draw(seed, self.options, epoch, row, num_rows)
        return ((draw.other_rows[0], ("flac",)),) if draw.negative and not draw.hard and draw.other_rows else ()

    def __call__(self, request: FeedRequest) -> tuple[np.ndarray, ...]:
        o = self.options
        mp4 = request.members["mp4"]
        info = read_video_info(mp4)
        clip = plan_clip(request, o, info.num_frames)
        audio = plan_audio(request, o, clip[0] / info.fps, (clip[-1] + 1) / info.fps)
        wanted, (order,) = sampling.unique_request(clip)
        return (*self.fetch(mp4, wanted), order, sampling.frame_times_s(clip, info.fps),
                *audio_window(audio.flac, audio.start_s, o), np.array(audio.match, np.int64),
                np.array(audio.offset_s, np.float32), np.array(audio.index, np.int64))


@dataclass(frozen=True)
class AudioChoice:
    flac: bytes  # the FLAC member the window comes from
    start_s: float  # the window's start in that audio
    match: int  # 1: the window aligned with the clip
    index: int  # manifest index of the video the audio comes from
    offset_s: float  # start minus the aligned start, on the sample grid (0 for another video's audio)


PAIR_DRAWS = 1  # pair_draw's stream beside the slot's own generator (seeded by the same slot seed)


@dataclass(frozen=True)
class PairDraw:
    negative: bool
    hard: bool  # a hard negative if the video is long enough for a shifted window (else an easy one)
    other_rows: tuple[int, ...]  # the videos an easy negative tries for their sound, in order


def pair_draw(seed: tuple[int, ...], options: AVPairsOptions, epoch: int, row: int, num_rows: int) -> PairDraw:
    """What kind of pair the slot of `seed` is, from its seed alone: known before any member is read."""
    rng = np.random.default_rng((*seed, PAIR_DRAWS))
    negative = bool(rng.random() < options.negative_fraction)
    hard = bool(rng.random() < options.hard_fraction_at(epoch))
    others = rng.integers(num_rows - 1, size=EASY_NEGATIVE_TRIES) if num_rows > 1 else ()
    return PairDraw(negative, hard, tuple(int(other) + (other >= row) for other in others))


def plan_audio(request: FeedRequest, options: AVPairsOptions, clip_start_s: float, clip_end_s: float) -> AudioChoice:
    """The audio window for a clip spanning [clip_start_s, clip_end_s): aligned, shifted or another video's."""
    o, rng, flac = options, request.rng, request.members["flac"]
    duration_s = read_audio_info(flac).duration_s
    aligned_s = sampling.aligned_audio_start(clip_start_s, clip_end_s, duration_s, o.audio_s)
    choice = flac, aligned_s, 1, request.index
    draw = pair_draw(request.seed, o, request.epoch, request.row, request.source.num_rows)
    if draw.negative:
        shifted_s = sampling.shifted_audio_start(rng, aligned_s, o.min_shift_s, duration_s, o.audio_s) if draw.hard else None
        if shifted_s is not None:
            choice = flac, shifted_s, 0, request.index
        else:
            choice = other_video_audio(request, o.audio_s, draw.other_rows) or choice
    audio_flac, start_s, match, index = choice
    offset_s = (start_sample(start_s, o) - start_sample(aligned_s, o)) / o.sample_rate_hz if index == request.index else 0.0
    return AudioChoice(audio_flac, start_s, match, index, offset_s)


def other_video_audio(request: FeedRequest, audio_s: float, other_rows: tuple[int, ...]):
    """(flac, start_s, 0, index) of a random window of the first usable of `other_rows`' audio, or None."""
    source = request.source
    for other in other_rows:
        index = source.index_of_row(other)
        members = request.borrow(index, ("flac",))
        if members is not None:
            try:
                duration_s = read_audio_info(members[0]).duration_s
            except SampleRejected:  # an unreadable header: try another video
                continue
            return members[0], sampling.audio_window_start(request.rng, duration_s, audio_s), 0, index
    return None


def av_pairs_graph(fed: dict, options: AVPairsOptions, device: str):
    video = clip_view(pick_frames(decoded_frames(fed, device), fed["order"]), options)
    return (video, fed["frame_times_s"], log_mel(fed, options, device), fed["audio_start_s"], fed["match"],
            fed["offset_s"], fed["audio_index"])
