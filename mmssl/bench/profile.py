"""The profiler's run: data, configurations (sweeps), rounds of every backend, then the report dict.

Every backend of a configuration runs on the same data with the same batch size, seed and number
of CPU threads (DALI `num_threads` = DataLoader workers). Rounds are interleaved (each backend once
per round, built and torn down alone), so a burst of outside load hits all backends alike; the
figures are medians over rounds with their spread. The sweeps are a product: GOP (generated videos)
x threads x batch size; the nvJPEG hardware-decoder load is swept on the GPU decode-only row.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from mmssl.bench import demo_data
from mmssl.bench.backends import REQUESTABLE, StreamSettings, backend_unavailable, make_stream
from mmssl.bench.machine import machine_info
from mmssl.bench.stages import stage_breakdown
from mmssl.bench.timing import Budget, Timed, measure, spread
from mmssl.bench.training import measure_training

SCHEMA = "mmssl.bench_loader.v2"
IMAGE_PIPELINES = ("pirl", "jigsaw", "rotation", "jigsaw_rotation", "views")
VIDEO_PIPELINES = ("clips", "temporal", "frame_order", "tracked_patches", "av_pairs")
PIPELINES = IMAGE_PIPELINES + VIDEO_PIPELINES + ("audio",)
DEFAULT_GOP = 16  # preparation's keyframe interval


@dataclass(frozen=True)
class BenchConfig:
    """Everything one run measures; validated at construction, printed at the top of the run."""

    pipeline: str = "pirl"
    backends: tuple[str, ...] = REQUESTABLE
    threads: tuple[int, ...] = (2,)
    batch_sizes: tuple[int, ...] = (32,)
    gops: tuple[int, ...] = (DEFAULT_GOP,)
    hw_decoder_loads: tuple[float, ...] = ()
    warmup: int = 3
    batches: int = 20
    seconds: float | None = None
    rounds: int = 3
    stages: bool = True
    data: str | None = None
    images: int = 400
    videos: int = 24
    source_workers: int | None = None
    options: dict | None = None
    seed: int = 0
    train_recipe: str | None = None
    train_config: str = "embedded"
    train_steps: int = 10
    train_batch_size: int | None = None  # default: the recipe's
    progress: bool = False
    command: str = field(default="", compare=False)

    def __post_init__(self):
        if self.pipeline not in PIPELINES:
            raise ValueError(f"unknown pipeline {self.pipeline!r}; choose one of {PIPELINES}")
        unknown = [b for b in self.backends if b not in REQUESTABLE]
        if unknown or not self.backends:
            raise ValueError(f"backends must be some of {REQUESTABLE}, got {list(self.backends)}")
        counts = (self.warmup + 1, self.batches, self.rounds, self.images, self.videos, self.train_steps,
                  self.train_batch_size or 1, *self.threads, *self.batch_sizes, *self.gops)
        if min(counts) < 1 or not (self.threads and self.batch_sizes and self.gops):
            raise ValueError("threads, batch sizes, GOPs, batches, rounds, images, videos, train steps and train "
                             "batch size must be >= 1 (warmup >= 0)")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds}")
        if any(not 0 <= load <= 1 for load in self.hw_decoder_loads):
            raise ValueError(f"hardware decoder loads must be in [0, 1], got {self.hw_decoder_loads}")
        if self.hw_decoder_loads and self.pipeline not in IMAGE_PIPELINES:
            raise ValueError("--hw-decoder-load tunes nvJPEG: it applies to the image pipelines only")
        if self.gops != (DEFAULT_GOP,) and (self.pipeline in IMAGE_PIPELINES or self.data):
            raise ValueError("--gop sets the keyframe interval of generated videos: it needs a video or audio "
                             "pipeline and no --data (a prepared dataset's videos keep their GOP)")
        if self.source_workers is not None and self.source_workers < 0:
            raise ValueError(f"source workers must be >= 0, got {self.source_workers}")

    @property
    def media(self) -> str:
        return "image" if self.pipeline in IMAGE_PIPELINES else "video"


@dataclass(frozen=True)
class Dataset:
    path: Path
    gop: int | None
    description: str
    mean_mp4_kb: float | None = None


def check_data_dir(data: str) -> Path:
    """The prepared dataset at `data`, or an error that says what to do."""
    path = Path(data)
    if not path.is_dir():
        raise FileNotFoundError(f"--data {data}: no such directory. Pass a dataset prepared by "
                                "`python tools/prepare_data.py --input MEDIA --output DIR`, or leave --data out to "
                                "profile on generated demo data")
    if not (path / "shards").is_dir():
        raise FileNotFoundError(f"--data {data}: no shards/ folder, so not a prepared dataset; prepare it with "
                                f"`python tools/prepare_data.py --input {data} --output PREPARED_DIR` first")
    return path


def prepare_datasets(config: BenchConfig, scratch: Path) -> list[Dataset]:
    """The data of the run: --data as given, or demo data (the same raw videos prepared at each GOP)."""
    if config.data:
        return [Dataset(check_data_dir(config.data), None, config.data)]
    if config.media == "image":
        path = demo_data.generate_image_dataset(scratch / "images", config.images, config.seed)
        return [Dataset(path, None, f"generated: {config.images} photo-like JPEGs, long side "
                                    f"{demo_data.IMAGE_LONG_SIDE_PX} px")]
    raw = demo_data.raw_videos(config.videos, config.seed)
    copies = video_copies(config)
    width, height = demo_data.VIDEO_SIZE_PX
    datasets = []
    for gop in config.gops:
        made = demo_data.write_video_dataset(scratch / f"videos-gop{gop}", raw, gop, copies)
        datasets.append(Dataset(made.path, gop, f"generated: {config.videos} videos x {copies} copies, "
                                f"{demo_data.VIDEO_SECONDS} s {width}x{height} {demo_data.VIDEO_FPS} fps with sound, "
                                f"GOP {gop} frames, {made.mean_mp4_kb:.0f} kB per mp4", made.mean_mp4_kb))
    return datasets


def video_copies(config: BenchConfig) -> int:
    """Copies of each generated video so that twice the untimed + timed samples of a measurement fit in one epoch."""
    batches = config.batches if config.seconds is None else max(config.batches, 50)
    needed = 2 * (config.warmup + batches) * max(config.batch_sizes)
    return max(1, -(-needed // config.videos))


def row_plan(config: BenchConfig) -> tuple[list[tuple[str, float | None]], list[dict]]:
    """(backend, hw decoder load) pairs measured in every configuration, and what is skipped and why."""
    skipped = [{"backend": b, "reason": r} for b in config.backends if (r := backend_unavailable(b))]
    plan = [(b, None) for b in config.backends if not backend_unavailable(b)]
    if config.stages:
        plan += [("read-only", None), ("decode-only-cpu", None)]
    if config.stages and "dali-gpu" in config.backends:
        if reason := backend_unavailable("decode-only-gpu"):
            skipped.append({"backend": "decode-only-gpu", "reason": reason})
        else:
            plan += [("decode-only-gpu", load) for load in (config.hw_decoder_loads or (None,))]
    if config.hw_decoder_loads and not any(b == "decode-only-gpu" for b, _ in plan):
        skipped.append({"backend": "hw-decoder-load sweep", "reason": "needs dali-gpu (nvJPEG) with stages on"})
    return plan, skipped


def run_profile(config: BenchConfig) -> dict:
    """Measure everything `config` asks for; the report dict (see report.py for its schema)."""
    plan, skipped = row_plan(config)
    budget = Budget(config.warmup, config.batches, config.seconds)
    machine = machine_info()  # before measuring: its load average is the outside load
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as scratch:
        datasets = prepare_datasets(config, Path(scratch))
        grid = list(itertools.product(datasets, config.threads, config.batch_sizes))
        rows = []
        with tqdm(total=len(grid) * config.rounds * len(plan), desc="bench_loader", unit="run",
                  disable=not config.progress) as progress:
            for dataset, threads, batch_size in grid:
                rows += measure_configuration(config, plan, budget, dataset, threads, batch_size, progress)
        training = (measure_training(config.train_recipe, datasets[0].path, steps=config.train_steps,
                                     warmup=config.warmup, threads=config.threads[0], seed=config.seed,
                                     which=config.train_config, batch_size=config.train_batch_size)
                    if config.train_recipe else None)
    return {"schema": SCHEMA, "date": datetime.now().isoformat(timespec="seconds"), "command": config.command,
            "machine": machine, "settings": {k: v for k, v in asdict(config).items() if k != "command"},
            "resize_filtering": resize_filtering(config), "datasets": [dataset_entry(d) for d in datasets],
            "unavailable": skipped, "results": rows, "stages": stages_of(rows), "gop_comparison": gop_comparison(rows),
            "training": training}


def measure_configuration(config: BenchConfig, plan, budget: Budget, dataset: Dataset, threads: int,
                          batch_size: int, progress) -> list[dict]:
    """Rounds of every planned backend on one (data, threads, batch size); one row per backend, with ratios."""
    timed: dict[tuple, list[Timed]] = {key: [] for key in plan}
    for _ in range(config.rounds):
        for backend, load in plan:
            settings = StreamSettings(config.pipeline, dataset.path, batch_size, threads, config.seed, config.options,
                                      config.source_workers, load)
            progress.set_postfix_str(f"{backend} threads={threads} batch={batch_size}" +
                                     (f" gop={dataset.gop}" if dataset.gop else ""))
            timed[backend, load].append(measure(lambda: make_stream(backend, settings), budget,
                                                watch_gpu=backend.endswith("gpu")))
            progress.update()
    rows = [summarise(config.pipeline, backend, load, runs, dataset.gop, threads, batch_size)
            for (backend, load), runs in timed.items()]
    return with_ratios(rows)


def summarise(pipeline: str, backend: str, load, runs: list[Timed], gop, threads: int, batch_size: int) -> dict:
    """One row: exact counts per round, median and spread of every figure, GPU readings."""
    gpu = [run.gpu for run in runs if run.gpu["available"]]
    return {"backend": backend, "pipeline": pipeline, "gop": gop, "threads": threads, "batch_size": batch_size,
            "hw_decoder_load": load, "rounds": len(runs), "warmup_batches": runs[0].warmup_batches,
            "batches_per_round": [run.batches for run in runs], "samples_per_round": [run.samples for run in runs],
            "wall_s_per_round": [run.wall_s for run in runs],
            "samples_per_s": spread([run.samples_per_s for run in runs]),
            "cpu_ms_per_sample": spread([run.cpu_ms_per_sample for run in runs]),
            "cpu_utilisation": spread([run.cpu_utilisation for run in runs]),
            "gpu": merged_gpu(gpu) if gpu else runs[0].gpu}


def merged_gpu(readings: list[dict]) -> dict:
    """GPU figures over rounds: the median of the mean utilisations, the peak of the peak memories."""
    return {"available": True, "utilisation_pct_mean": spread([g["utilisation_pct_mean"] for g in readings])["median"],
            "peak_memory_mib": max(g["peak_memory_mib"] for g in readings)}


def with_ratios(rows: list[dict]) -> list[dict]:
    """Each row's median rate over torch's, and torch's CPU per sample over its own (None without torch)."""
    torch_row = next((row for row in rows if row["backend"] == "torch"), None)
    for row in rows:
        row["ratio_to_torch"] = row["cpu_ratio_to_torch"] = None
        if torch_row is not None:
            row["ratio_to_torch"] = row["samples_per_s"]["median"] / torch_row["samples_per_s"]["median"]
            row["cpu_ratio_to_torch"] = torch_row["cpu_ms_per_sample"]["median"] / row["cpu_ms_per_sample"]["median"]
    return rows


def configuration_key(row: dict) -> tuple:
    return row["gop"], row["threads"], row["batch_size"]


def stages_of(rows: list[dict]) -> list[dict]:
    """A stage breakdown per configuration and DALI device that has its rows."""
    out = []
    for key, group in itertools.groupby(sorted(rows, key=configuration_key), key=configuration_key):
        group = list(group)
        for device in ("cpu", "gpu"):
            if (breakdown := stage_breakdown(group, device)) is not None:
                out.append({"gop": key[0], "threads": key[1], "batch_size": key[2], **breakdown})
    return out


def gop_comparison(rows: list[dict]) -> list[dict]:
    """Each backend's rate at each GOP against its rate at the longest GOP (same threads and batch size)."""
    gops = sorted({row["gop"] for row in rows if row["gop"] is not None})
    if len(gops) < 2:
        return []
    def same_row(r: dict) -> tuple:
        return r["backend"], r["hw_decoder_load"], r["threads"], r["batch_size"]

    at_longest = {same_row(r): r["samples_per_s"]["median"] for r in rows if r["gop"] == gops[-1]}
    return [{"backend": r["backend"], "gop": r["gop"], "threads": r["threads"], "batch_size": r["batch_size"],
             "samples_per_s": r["samples_per_s"]["median"], "cpu_ms_per_sample": r["cpu_ms_per_sample"]["median"],
             "x_longest_gop": r["samples_per_s"]["median"] / at_longest[same_row(r)]}
            for r in rows]


def dataset_entry(dataset: Dataset) -> dict:
    return {"gop": dataset.gop, "description": dataset.description, "mean_mp4_kb": dataset.mean_mp4_kb}


def resize_filtering(config: BenchConfig) -> str:
    """How both sides resize, so the ratio measures the loader and not a cheaper filter."""
    from mmssl.pipelines.loader import make_config

    if config.pipeline == "audio":
        return "no image resizing (audio only)"
    if config.pipeline == "tracked_patches":
        return "no resizing: patches are cut from the decoded frames at 1:1 on both sides"
    augmented = config.pipeline in IMAGE_PIPELINES or make_config(config.pipeline, config.options).augment
    if augmented:
        return ("bilinear random resized crops without antialiasing on both sides: DALI fn.random_resized_crop"
                "(antialias=False), torchvision v2 RandomResizedCrop(antialias=False) on uint8 tensors")
    return ("bilinear resize of the short side with antialiasing on both sides: DALI fn.resize(antialias=True), "
            "torchvision v2 Resize(antialias=True)")
