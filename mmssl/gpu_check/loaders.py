"""Loader throughput on the check's data: `bench_loader`'s rows (dali-gpu, dali-cpu, torch) for each
pipeline, then clips from several pipelines at once, one per NVDEC engine and past them.

One DALI video pipeline drives one NVDEC engine, so one `clips` loader leaves most of an H100's
decoders idle; the NVDEC rows run 1, `engines` and `engines + extra` loaders side by side (threads
share the DALI threads between them) and report their summed samples/s against one loader's. Row
lengths are planned from the time the part has left, so a slow start-up shortens the rows instead of
losing the part.
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext

from mmssl.bench.backends import endless
from mmssl.bench.gpu_monitor import GpuMonitor
from mmssl.bench.profile import BenchConfig, run_profile
from mmssl.gpu_check.sizes import H100_NVDEC_ENGINES, LOADER_PIPELINES

IMAGE_PIPELINES = ("pirl", "jigsaw", "views")
SHARE_TIMED = 0.4  # of the time left, the share planned as timed seconds (the rest: building, warm-up)


def row_seconds(sizes, deadline: float, rows_left: int) -> float:
    """Timed seconds for the next row: an equal share of the time left, within the sizes' bounds."""
    low, high = sizes.loader_seconds
    return min(high, max(low, SHARE_TIMED * (deadline - time.monotonic()) / max(1, rows_left)))


def compact_row(row: dict) -> dict:
    gpu = row["gpu"]
    return {"backend": row["backend"], "samples_per_s": row["samples_per_s"]["median"],
            "x_torch": row["ratio_to_torch"], "cpu_ms_per_sample": row["cpu_ms_per_sample"]["median"],
            "samples": sum(row["samples_per_round"]), "wall_s": sum(row["wall_s_per_round"]),
            "gpu_utilisation_pct": gpu.get("utilisation_pct_mean") if gpu["available"] else None,
            "gpu_peak_memory_mib": gpu.get("peak_memory_mib") if gpu["available"] else None}


def nvdec_pipeline_counts(engines: int, extra: int) -> tuple[int, ...]:
    return tuple(sorted({1, engines, engines + extra}))


def run(recorder, sizes, data: dict, facts: dict, deadline: float) -> None:
    """bench_loader's rows for each pipeline; right after clips's, the NVDEC rows."""
    engines = facts.get("nvdec_engines")
    engines_from = facts.get("engine_counts_from") or f"assumed: H100's published {H100_NVDEC_ENGINES}"
    counts = nvdec_pipeline_counts(engines or (H100_NVDEC_ENGINES if not sizes.dry_run else 1),
                                   sizes.nvdec_extra_pipelines)
    rows_left = len(LOADER_PIPELINES) * len(sizes.backends) + len(counts)
    pipelines, nvdec = {}, {"engines": engines, "engines_from": engines_from, "device": sizes.device, "rows": []}
    for pipeline in LOADER_PIPELINES:
        seconds = row_seconds(sizes, deadline, rows_left)
        config = BenchConfig(pipeline=pipeline, backends=sizes.backends, threads=(sizes.threads,),
                             batch_sizes=(sizes.batch_size,), warmup=sizes.loader_warmup, seconds=seconds, rounds=1,
                             stages=False, options=sizes.pipeline_options.get(pipeline),
                             data=data["images" if pipeline in IMAGE_PIPELINES else "videos"]["path"])
        report = run_profile(config)
        pipelines[pipeline] = {"seconds_per_row": seconds, "rows": [compact_row(r) for r in report["results"]],
                               "unavailable": report["unavailable"]}
        rows_left -= len(sizes.backends)
        recorder.record(pipelines=pipelines, threads=sizes.threads, batch_size=sizes.batch_size)
        if pipeline == "clips":
            for count in counts:
                row = concurrent_clips(sizes, data["videos"]["path"], count, row_seconds(sizes, deadline, rows_left))
                if nvdec["rows"]:
                    row["x_one_pipeline"] = row["samples_per_s"] / nvdec["rows"][0]["samples_per_s"]
                nvdec["rows"].append(row)
                rows_left -= 1
                recorder.record(nvdec=nvdec)


def concurrent_clips(sizes, videos, count: int, seconds: float) -> dict:
    """`count` clips loaders pulling batches side by side for `seconds`: their summed samples/s."""
    from mmssl.pipelines.loader import build_loader

    threads = max(1, sizes.threads // count)
    loaders = [build_loader("clips", videos, batch_size=sizes.batch_size, device=sizes.device, seed=i,
                            device_id=0 if sizes.device == "gpu" else None, num_threads=threads,
                            options=sizes.pipeline_options.get("clips")) for i in range(count)]
    streams = [endless(loader) for loader in loaders]
    for stream in streams:  # every pipeline started and past its first batch before the clock starts
        for _ in range(max(1, sizes.loader_warmup)):
            next(stream)
    samples, errors = [0] * count, []
    start = threading.Barrier(count + 1)

    def pull(i: int, until: list[float]) -> None:
        start.wait()
        try:
            while time.perf_counter() < until[0]:
                samples[i] += len(next(streams[i])["index"])
        except Exception as error:  # noqa: BLE001 - raised below, in the part's own thread
            errors.append(error)

    until = [0.0]
    workers = [threading.Thread(target=pull, args=(i, until)) for i in range(count)]
    for worker in workers:
        worker.start()
    with GpuMonitor() if sizes.device == "gpu" else nullcontext() as monitor:
        began = time.perf_counter()
        until[0] = began + seconds
        start.wait()
        for worker in workers:
            worker.join()
        wall_s = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"a clips loader failed while {count} ran side by side") from errors[0]
    gpu = monitor.summary() if monitor is not None else {"available": False, "reason": "CPU decoding (dry run)"}
    return {"pipelines": count, "dali_threads_each": threads, "samples": sum(samples), "wall_s": wall_s,
            "samples_per_s": sum(samples) / wall_s, "gpu": gpu}

