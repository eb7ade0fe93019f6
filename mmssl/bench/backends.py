"""What each backend iterates: endless batch streams over one prepared dataset, one kind per row.

- `dali-gpu`, `dali-cpu`: the training loader (`build_loader`) on that device.
- `torch`: the baseline a user would otherwise run, doing the same work in a PyTorch DataLoader
  (pipelines/torch_reference.py for images: PIL + torchvision; torch_reference_video.py and
  torch_reference_motion.py for video and audio: decord + torchvision, PyAV + torchaudio).
- `read-only`: the sample source reading and checking the family's members, through DALI with no
  graph work (the read stage).
- `decode-only-cpu`, `decode-only-gpu`: the same source and feed, then only the decoders (JPEG,
  video frames, FLAC): the ceiling of any pipeline on that data. On the CPU the video feed itself
  decodes (decord, in its guarded child), so the row is the CPU loader's ceiling.
Every stream yields dicts holding at least `index`, so samples are counted the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np

REQUESTABLE = ("dali-gpu", "dali-cpu", "torch")
STAGE_ROWS = ("read-only", "decode-only-cpu", "decode-only-gpu")
PASSED_THROUGH = ("jpg", "frames", "mp4", "frame_numbers", "flac")  # fed nodes the decode-only graph consumes


@dataclass(frozen=True)
class StreamSettings:
    """What every backend of one configuration shares: same data, batch size, threads and seed."""

    pipeline: str
    data_dir: Path
    batch_size: int
    threads: int
    seed: int
    options: dict | None
    source_workers: int | None
    hw_decoder_load: float | None = None  # nvJPEG's hardware share, decode-only-gpu on images


def backend_unavailable(backend: str) -> str | None:
    """None when `backend` can run here; otherwise the reason it is skipped."""
    import torch

    if backend.endswith("gpu") and not torch.cuda.is_available():
        return "no CUDA device visible to torch"
    return None


def endless(loader) -> Iterator[dict]:
    """Batches forever, epoch after epoch."""
    while True:
        yield from iter(loader)


def make_stream(backend: str, settings: StreamSettings) -> Iterator[dict]:
    if backend == "torch":
        return endless(torch_loader(settings))
    if backend in ("dali-cpu", "dali-gpu"):
        from mmssl.pipelines.loader import build_loader

        s = settings
        return endless(build_loader(s.pipeline, s.data_dir, batch_size=s.batch_size, device=backend[5:], seed=s.seed,
                                    num_threads=s.threads, options=s.options, source_workers=s.source_workers))
    if backend == "read-only":
        return stage_stream(settings, "cpu", decode=False)
    if backend in ("decode-only-cpu", "decode-only-gpu"):
        return stage_stream(settings, backend.rsplit("-", 1)[1], decode=True)
    raise ValueError(f"unknown backend {backend!r}; choose from {REQUESTABLE + STAGE_ROWS}")


def torch_loader(settings: StreamSettings):
    from mmssl.pipelines.loader import FAMILIES

    s = settings
    if FAMILIES[s.pipeline].members == ("jpg",):
        from mmssl.pipelines.torch_reference import build_torch_loader as build
    else:
        from mmssl.pipelines.torch_reference_video import build_torch_video_loader as build
    return build(s.pipeline, s.data_dir, batch_size=s.batch_size, num_workers=s.threads, seed=s.seed, options=s.options)


def decode_graph(fed: dict, cfg, device: str, hw_decoder_load: float | None = None) -> tuple:
    """Only the decoders of what the family's feed hands DALI; every other fed node passes through unused."""
    import nvidia.dali.fn as fn
    import nvidia.dali.types as types

    from mmssl.pipelines.video_frames import decoded_frames

    outputs = []
    if "jpg" in fed:
        tuning = {"hw_decoder_load": hw_decoder_load} if device == "gpu" and hw_decoder_load is not None else {}
        outputs.append(fn.decoders.image(fed["jpg"], device="mixed" if device == "gpu" else "cpu",
                                         output_type=types.RGB, **tuning))
    if "frames" in fed or "mp4" in fed:
        outputs.append(decoded_frames(fed, device))
    if "flac" in fed:
        audio, _ = fn.decoders.audio(fed["flac"], sample_rate=cfg.sample_rate_hz, downmix=True, dtype=types.FLOAT)
        outputs.append(audio)
    return (*outputs, *(node for name, node in fed.items() if name not in PASSED_THROUGH))


def pass_through(fed: dict, cfg, device: str) -> tuple:
    """Every fed node returned as it is (all used, so DALI does not warn)."""
    return tuple(fed.values())


def stage_stream(settings: StreamSettings, device: str, decode: bool) -> Iterator[dict]:
    """The family's source (and feed, when decoding) through DALI with only the decoders, or nothing at all."""
    from mmssl.data.member_table import MemberTable
    from mmssl.data.sample_plan import SamplePlan
    from mmssl.pipelines.loader import FAMILIES, Family, eligible_rows, family_pipeline, make_config
    from mmssl.pipelines.sample_source import SampleSource

    s = settings
    family, cfg = FAMILIES[s.pipeline], make_config(s.pipeline, s.options)
    table = MemberTable.open(s.data_dir)
    plan = SamplePlan(eligible_rows(table, s.pipeline, s.data_dir), s.batch_size, seed=s.seed)
    feed = family.feed(cfg, device) if decode and family.feed is not None else None
    source = SampleSource(table, family.members, plan, feed=feed)
    graph = partial(decode_graph, hw_decoder_load=s.hw_decoder_load) if decode else pass_through
    workers = s.source_workers if s.source_workers is not None else (2 if device == "gpu" else 0)
    pipe = family_pipeline(Family(object, graph, lambda cfg: ()), source, cfg, device, workers, checkpoint=None,
                           graph_args={}, batch_size=s.batch_size, num_threads=s.threads,
                           device_id=0 if device == "gpu" else None, seed=s.seed)
    pipe.build()
    while True:
        *_, index, _, _, _ = pipe.run()
        yield {"index": np.array(index.as_tensor())}
