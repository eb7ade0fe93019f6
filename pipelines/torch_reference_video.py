"""The video and audio families with decord, torchvision and torchaudio in a DataLoader.

What a user would run without DALI, and what tools/bench_loader.py measures the DALI loader against:
decord decodes the frames a sample needs (one `get_batch` per video visit, the reader created inside
the worker from the member's bytes), torchvision v2 augments each clip as one video (the same random
resized crop, flip and colour change on every frame), torchaudio makes the log-mel of a FLAC window
decoded with PyAV. It reads the same sample plan and sample source as the DALI loader (same samples,
same batches, same skips) through a feed that plans frames and audio windows with the DALI feeds' own
planning functions and the same slot-seeded generator, so both loaders decode the same frames: the
comparison is of the work, not of the luck of the draw. A video decord cannot decode is skipped. Augmentation randomness is
torch's own. Output names, shapes and dtypes are those of pipelines/loader.py.
Here: `clips`, `temporal`, `av_pairs`, `audio`; `frame_order` and `tracked_patches` in
torch_reference_motion.py (they add a motion search after decoding).
"""

from __future__ import annotations

import io
import random

import av
import decord
import numpy as np
import torch
import torchaudio
from torch.utils.data import DataLoader, IterableDataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from mmssl.data.member_table import MemberTable
from mmssl.data.sample_plan import SamplePlan
from mmssl.pipelines import clip_sampling as sampling
from mmssl.pipelines.audio import plan_audio_start
from mmssl.pipelines.av_pairs import plan_audio
from mmssl.pipelines.clips import plan_clip
from mmssl.pipelines.feeds import FeedRequest, SampleRejected
from mmssl.pipelines.loader import FAMILIES, eligible_rows, make_config
from mmssl.pipelines.log_mel import DB_FLOOR, AudioOptions, shifted_hann_window, start_sample
from mmssl.pipelines.ops import ASPECT_RATIO, IMAGENET_MEAN, IMAGENET_STD
from mmssl.pipelines.sample_source import SampleSource
from mmssl.pipelines.temporal import plan_temporal
from mmssl.pipelines.torch_reference import worker_slots
from mmssl.pipelines.video_frames import ClipOptions, read_video_info

VIDEO_PIPELINES = ("clips", "temporal", "av_pairs", "audio", "frame_order", "tracked_patches")


def clip_transform(options: ClipOptions) -> v2.Compose:
    """uint8 video [T, 3, H, W] -> float32 [T, 3, crop, crop] normalised; parameters drawn once per clip.

    Augmented: the DALI graph's random resized crop (no antialiasing, as ops.random_resized_crop),
    flip and colour jitter with grayscale. Otherwise: short side to crop_px, centre crop.
    """
    size, jitter = options.crop_px, options.color_jitter
    if options.augment:
        steps = [v2.RandomResizedCrop(size, scale=options.crop_scale, ratio=ASPECT_RATIO, antialias=False),
                 v2.RandomHorizontalFlip(),
                 v2.ColorJitter(jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue),
                 v2.RandomGrayscale(jitter.grayscale_p)]
    else:
        steps = [v2.Resize(size, antialias=True), v2.CenterCrop(size)]
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def decode_clips(mp4: bytes, *clips: np.ndarray) -> list[torch.Tensor]:
    """uint8 [T, 3, H, W] frames of each clip (frame numbers), from one decord visit to the video."""
    try:
        reader = decord.VideoReader(io.BytesIO(mp4), ctx=decord.cpu(0), num_threads=1)  # one thread per worker
        last = len(reader) - 1  # a container may over-report its frames: past the last real one, it repeats
        wanted, orders = sampling.unique_request(*(np.minimum(clip, last) for clip in clips))
        frames = torch.from_numpy(reader.get_batch(wanted.tolist()).asnumpy()).permute(0, 3, 1, 2)
    except decord.DECORDError as error:
        raise SampleRejected(f"mp4: {error}") from None
    return [frames[torch.from_numpy(order).long()] for order in orders]


def decode_flac(flac: bytes, sample_rate_hz: int) -> torch.Tensor:
    """Mono float32 samples in [-1, 1] at `sample_rate_hz` (PyAV; torchaudio.load needs torchcodec)."""
    with av.open(io.BytesIO(flac)) as container:
        stream = container.streams.audio[0]
        if stream.rate == sample_rate_hz and stream.channels == 1 and stream.format.name == "s16":
            pcm = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(stream)])
            return torch.from_numpy(pcm.astype(np.float32) / 32768)  # prepared audio: no resampling needed
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
        chunks = [r.to_ndarray().reshape(-1) for frame in container.decode(stream) for r in resampler.resample(frame)]
        chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
    return torch.from_numpy(np.concatenate(chunks))


def dali_window(length: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """DALI's half-sample-shifted Hann as a torchaudio `window_fn` (torch's periodic Hann is up to 0.87 dB off)."""
    return torch.from_numpy(shifted_hann_window(length)).to(dtype)


class LogMel:
    """[1, n_mels, n_frames] log-mel in dB of a window, as log_mel.py: centred frames weighted by DALI's
    shifted Hann, Slaney mel filters, 10*log10(power) against 1.0 floored at DB_FLOOR (never
    normalised per window)."""

    def __init__(self, options: AudioOptions):
        window_length = round(options.window_ms * options.sample_rate_hz / 1000)
        self.options = options
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=options.sample_rate_hz, n_fft=1 << (window_length - 1).bit_length(), win_length=window_length,
            hop_length=options.hop_samples, f_max=options.sample_rate_hz / 2, n_mels=options.n_mels, power=2.0,
            center=True, norm="slaney", mel_scale="slaney", window_fn=dali_window)
        self.decibels = torchaudio.transforms.AmplitudeToDB(stype="power")

    def __call__(self, samples: torch.Tensor, start: int) -> torch.Tensor:
        """The log-mel of the window at sample `start` of `samples`; silence past their end; random gain."""
        o = self.options
        window = samples[start : start + o.window_samples]
        window = torch.nn.functional.pad(window, (0, o.window_samples - len(window)))
        if o.augment and o.gain_db != (0.0, 0.0):
            window = window * 10 ** (random.uniform(*o.gain_db) / 20)
        return self.decibels(self.mel(window)).clamp_min(DB_FLOOR).unsqueeze(0)


class TorchFeed:
    """A sample source feed whose sample is a dict the DataLoader collates: nothing is fed to DALI."""

    def outputs(self) -> tuple:
        return ()


class TorchAudioFeed(TorchFeed):
    """`audio` in torch: the window the DALI feed plans, decoded with PyAV, log-mel by torchaudio."""

    def __init__(self, options: AudioOptions):
        self.options, self.log_mel = options, LogMel(options)

    def __call__(self, request: FeedRequest) -> tuple[dict]:
        start = start_sample(plan_audio_start(request, self.options), self.options)
        samples = decode_flac(request.members["flac"], self.options.sample_rate_hz)
        return ({"audio": self.log_mel(samples, start),
                 "audio_start_s": torch.tensor(start / self.options.sample_rate_hz, dtype=torch.float32)},)


class TorchVideoFeed(TorchFeed):
    """A sample source feed that makes the whole sample in torch: planned as the DALI family's feed
    plans it (same functions, same slot generator), decoded with decord and PyAV, augmented by torch."""

    def __init__(self, pipeline: str, options):
        self.pipeline, self.options = pipeline, options
        self.transform = clip_transform(options)
        self.log_mel = LogMel(options) if pipeline == "av_pairs" else None

    def __call__(self, request: FeedRequest) -> tuple[dict]:
        mp4 = request.members["mp4"]
        info = read_video_info(mp4)
        if self.pipeline == "temporal":
            clips, gaps = plan_temporal(request.rng, self.options, info)
            names = ("a", "b", "far")[: len(clips)]
            views = decode_clips(mp4, *clips)  # all clips from one visit
            out = {f"clip_{n}": self.view(v) for n, v in zip(names, views)}
            out |= {f"frame_times_{n}_s": torch.from_numpy(sampling.frame_times_s(c, info.fps)) for n, c in zip(names, clips)}
            return ({**out, **{n: torch.from_numpy(g) for n, g in zip(("gap_s", "far_gap_s"), gaps)}},)
        clip = plan_clip(request, self.options, info.num_frames)
        out = {"frame_times_s": torch.from_numpy(sampling.frame_times_s(clip, info.fps))}
        if self.pipeline == "av_pairs":
            audio = plan_audio(request, self.options, clip[0] / info.fps, (clip[-1] + 1) / info.fps)
            start = start_sample(audio.start_s, self.options)
            out |= {"audio": self.log_mel(decode_flac(audio.flac, self.options.sample_rate_hz), start),
                    "audio_start_s": torch.tensor(start / self.options.sample_rate_hz, dtype=torch.float32),
                    "match": torch.tensor(audio.match), "offset_s": torch.tensor(audio.offset_s, dtype=torch.float32),
                    "audio_index": torch.tensor(audio.index)}
        (frames,) = decode_clips(mp4, clip)
        return ({"video": self.view(frames), **out},)

    def view(self, frames: torch.Tensor) -> torch.Tensor:
        """[3, T, crop, crop]: the clip augmented as one video."""
        return self.transform(tv_tensors.Video(frames)).as_subclass(torch.Tensor).transpose(0, 1)


class ShardVideos(IterableDataset):
    """One rank's epoch of video samples as dicts of tensors; worker w of n makes plan batches w, w + n, ...,
    so the DataLoader's k-th batch holds exactly the samples of the DALI loader's k-th batch."""

    def __init__(self, pipeline: str, data_dir, *, batch_size: int, shard_id: int = 0, num_shards: int = 1,
                 seed: int = 0, options: dict | None = None):
        if pipeline not in VIDEO_PIPELINES:
            raise ValueError(f"no torch video baseline for pipeline {pipeline!r}; choose one of {VIDEO_PIPELINES} "
                             "(image pipelines: pipelines/torch_reference.py)")
        self.cfg = make_config(pipeline, options)
        table = MemberTable.open(data_dir)
        plan = SamplePlan(eligible_rows(table, pipeline, data_dir), batch_size, shard_id, num_shards, seed)
        self.source = SampleSource(table, FAMILIES[pipeline].members, plan, feed=torch_feed(pipeline, self.cfg))
        self.seed, self.epoch = seed, 0

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        for _, _, slot in worker_slots(self.source, self.seed, epoch):
            (sample,) = slot.fed
            yield {**sample, "index": torch.tensor(slot.index), "row": torch.tensor(slot.row)}


def torch_feed(pipeline: str, cfg):
    """The torch feed that makes `pipeline`'s samples."""
    if pipeline == "audio":
        return TorchAudioFeed(cfg)
    if pipeline in ("frame_order", "tracked_patches"):
        from mmssl.pipelines.torch_reference_motion import MOTION_FEEDS  # it builds on this module's pieces

        return MOTION_FEEDS[pipeline](cfg)
    return TorchVideoFeed(pipeline, cfg)


def build_torch_video_loader(pipeline: str, data_dir, *, batch_size: int, num_workers: int = 2, shard_id: int = 0,
                             num_shards: int = 1, seed: int = 0, options: dict | None = None) -> DataLoader:
    """A DataLoader yielding the same batch dicts as build_loader(pipeline, ..., device="cpu"), without DALI."""
    dataset = ShardVideos(pipeline, data_dir, batch_size=batch_size, shard_id=shard_id, num_shards=num_shards,
                          seed=seed, options=options)
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, persistent_workers=num_workers > 0,
                      prefetch_factor=4 if num_workers else None)
