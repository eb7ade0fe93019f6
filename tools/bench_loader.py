"""Loader throughput per pipeline and backend: DALI (GPU, CPU) against the torchvision DataLoader baseline.

    python tools/bench_loader.py --pipeline pirl --backend dali-cpu,torch --batches 20 --threads 2

Prints samples/s per backend, its ratio to `torch`, and a `decode-only` row (DALI reading + decoding
the same data, no augmentation: the ceiling). DALI gets `--threads` threads, torch as many DataLoader
workers. Without --data, a temporary dataset of photo-like images (long side ~500 px) is generated.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BACKENDS = ("dali-gpu", "dali-cpu", "torch")
PIPELINES = ("pirl", "jigsaw", "rotation", "jigsaw_rotation", "views")


def photo_like(rng: np.random.Generator, long_side_px: int = 500) -> np.ndarray:
    """Smooth colour fields, a few soft shapes and sensor-like noise: compresses like a photo."""
    width, height = long_side_px, int(long_side_px * rng.choice([0.75, 0.667, 1.0, 0.5625]))
    if rng.random() < 0.3:
        width, height = height, width
    coarse = rng.integers(0, 256, size=(rng.integers(3, 9), rng.integers(3, 9), 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(3, 12)):
        x, y = rng.integers(0, width), rng.integers(0, height)
        r = rng.integers(10, long_side_px // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    pixels = np.asarray(image).astype(np.int16) + rng.normal(0, 6, size=(height, width, 3)).astype(np.int16)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def generate_dataset(out_dir: Path, num_images: int, seed: int = 0) -> Path:
    from mmssl.data.dataset_writer import DatasetWriter

    rng = np.random.default_rng(seed)
    with DatasetWriter(out_dir, shard_bytes=16 << 20) as writer:
        for i in range(num_images):
            pixels = photo_like(rng)
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, "JPEG", quality=90)
            fields = {"modality": "image", "source": f"generated/{i}.jpg", "width": pixels.shape[1], "height": pixels.shape[0]}
            writer.add({"jpg": buf.getvalue()}, fields)
    return out_dir


def process_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by this process (all threads) and the processes `pids`."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        except (FileNotFoundError, IndexError, ValueError):
            pass
    return total


def time_batches(stream, count: int, pids: list[int]) -> tuple[float, float]:
    """(samples per second, CPU milliseconds per sample) over the next `count` batches of `stream`.

    CPU time counts every thread of this process and the loader's worker processes `pids`, so it
    stays comparable when other jobs share the machine and wall-clock rates wander.
    """
    samples, start, cpu_start = 0, time.perf_counter(), process_cpu_s(pids)
    for _ in range(count):
        samples += len(next(stream)["index"])
    elapsed, cpu_s = time.perf_counter() - start, process_cpu_s(pids) - cpu_start
    return samples / elapsed, 1000 * cpu_s / samples


def endless(loader, worker_pids: list[int] | None = None):
    """Batches forever; records the DataLoader's worker pids (if any) in `worker_pids`."""
    while True:
        iterator = iter(loader)
        if worker_pids is not None:
            worker_pids[:] = [w.pid for w in getattr(iterator, "_workers", [])]
        yield from iterator


def dali_stream(args, data_dir: Path, device: str, worker_pids: list[int]):
    from mmssl.pipelines.loader import build_loader

    loader = build_loader(args.pipeline, data_dir, batch_size=args.batch_size, device=device, seed=args.seed,
                          num_threads=args.threads, options=args.options)
    return endless(loader)


def torch_stream(args, data_dir: Path, worker_pids: list[int]):
    from mmssl.pipelines.torch_reference import build_torch_loader

    loader = build_torch_loader(args.pipeline, data_dir, batch_size=args.batch_size, num_workers=args.threads,
                                seed=args.seed, options=args.options)
    return endless(loader, worker_pids)


def decode_only_stream(args, data_dir: Path, worker_pids: list[int]):
    """DALI CPU reading and decoding the same samples, nothing else: the ceiling for any CPU pipeline."""
    from mmssl.data.member_table import MemberTable
    from mmssl.data.sample_plan import SamplePlan
    from mmssl.pipelines import ops
    from mmssl.pipelines.loader import IMAGE_MEMBERS, Family, family_pipeline
    from mmssl.pipelines.sample_source import SampleSource

    table = MemberTable.open(data_dir)
    plan = SamplePlan(table.eligible_count(IMAGE_MEMBERS), args.batch_size, seed=args.seed)
    decode_only = Family(object, lambda members, cfg, device: (ops.decode(members["jpg"], device),), lambda cfg: ("image",))
    pipe = family_pipeline(decode_only, SampleSource(table, IMAGE_MEMBERS, plan), None, "cpu", 0, checkpoint=None,
                           graph_args={}, batch_size=args.batch_size, num_threads=args.threads, device_id=None,
                           seed=args.seed)
    pipe.build()
    while True:
        _, index, _, _, _ = pipe.run()
        yield {"index": np.array(index.as_tensor())}


def make_stream(args, data_dir: Path, backend: str, worker_pids: list[int]):
    if backend == "torch":
        return torch_stream(args, data_dir, worker_pids)
    if backend == "decode-only":
        return decode_only_stream(args, data_dir, worker_pids)
    return dali_stream(args, data_dir, "gpu" if backend == "dali-gpu" else "cpu", worker_pids)


def measure(args, data_dir: Path, backend: str) -> tuple[float, float]:
    """Build, warm up, time, and tear down one backend, so no other loader's workers or prefetching
    threads run (and steal CPU, or fill queues ahead) while it is timed."""
    worker_pids: list[int] = []
    stream = make_stream(args, data_dir, backend, worker_pids)
    try:
        for _ in range(args.warmup):
            next(stream)
        return time_batches(stream, args.batches, worker_pids)
    finally:
        stream.close()  # ends the DataLoader iterator (its workers) or releases the DALI pipeline
        del stream
        gc.collect()


def run(args) -> list[dict]:
    """Each backend timed alone, once per round, rounds interleaved so a burst of load elsewhere on the
    machine hits all backends alike; a backend's rate is its best round."""
    import torch

    backends = [b for b in args.backend if b != "dali-gpu" or torch.cuda.is_available()]
    if "dali-gpu" in args.backend and "dali-gpu" not in backends:
        print("dali-gpu: skipped, no CUDA device visible to torch", file=sys.stderr)
    backends.append("decode-only")
    rates = {name: [] for name in backends}
    cpu_ms = {name: [] for name in backends}
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as tmp:
        data_dir = Path(args.data) if args.data else generate_dataset(Path(tmp) / "data", args.images, args.seed)
        for _ in range(args.rounds):
            for name in backends:
                rate, cpu = measure(args, data_dir, name)
                rates[name].append(rate)
                cpu_ms[name].append(cpu)
    baseline = max(rates["torch"]) if "torch" in rates else None
    baseline_cpu = min(cpu_ms["torch"]) if "torch" in cpu_ms else None
    return [
        {
            "backend": name, "samples_per_s": max(rounds), "rounds_samples_per_s": rounds,
            "ratio_to_torch": max(rounds) / baseline if baseline else None,
            "cpu_ms_per_sample": min(cpu_ms[name]), "rounds_cpu_ms_per_sample": cpu_ms[name],
            "cpu_ratio_to_torch": baseline_cpu / min(cpu_ms[name]) if baseline_cpu else None,
            "pipeline": args.pipeline, "batch_size": args.batch_size, "threads": args.threads,
            "batches": args.batches,
        }
        for name, rounds in rates.items()
    ]


def print_table(results: list[dict]) -> None:
    """samples/s and its ratio to torch; then CPU ms per sample and torch's CPU per sample over it."""
    print(f"{'backend':<12} {'samples/s':>10} {'x torch':>8} {'cpu ms/sample':>14} {'cpu x torch':>12}")
    for r in results:
        ratio = f"{r['ratio_to_torch']:.2f}" if r["ratio_to_torch"] is not None else "-"
        cpu_ratio = f"{r['cpu_ratio_to_torch']:.2f}" if r["cpu_ratio_to_torch"] is not None else "-"
        print(f"{r['backend']:<12} {r['samples_per_s']:>10.1f} {ratio:>8} {r['cpu_ms_per_sample']:>14.2f} {cpu_ratio:>12}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="a prepared dataset; default: generate a temporary one")
    parser.add_argument("--pipeline", choices=PIPELINES, default="pirl")
    parser.add_argument("--backend", default="dali-gpu,dali-cpu,torch", help=f"comma-separated, of {BACKENDS}")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per backend")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches first (worker start-up)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds; the best counts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="DALI num_threads = torch DataLoader workers")
    parser.add_argument("--images", type=int, default=400, help="size of the generated dataset")
    parser.add_argument("--options", type=json.loads, default=None, help='pipeline options as JSON, e.g. \'{"permutations": 100}\'')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    args.backend = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = [b for b in args.backend if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {unknown}; choose from {','.join(BACKENDS)}")
    if min(args.batches, args.batch_size, args.threads, args.rounds) < 1:
        parser.error("--batches, --batch-size, --threads and --rounds must be >= 1")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    print(f"bench_loader: pipeline={args.pipeline} batch_size={args.batch_size} threads={args.threads} "
          f"batches={args.batches} data={args.data or f'generated ({args.images} photo-like images)'}")
    results = run(args)
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
