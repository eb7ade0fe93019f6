"""One timed measurement of one backend, with exact accounting, and the statistics over repeats.

A measurement builds the stream, runs `warmup` untimed batches (worker start-up, first-batch
allocation), then times either `batches` batches or as many as fit in `seconds`, counting every
batch and every sample it returned (`len(batch["index"])`), and tears the stream down so no other
loader's workers run while the next one is timed.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from mmssl.bench.cpu_time import cpu_split_since, process_cpu_s, usable_cores
from mmssl.bench.gpu_monitor import GpuMonitor


@dataclass(frozen=True)
class Budget:
    """Untimed batches, then a fixed count of timed batches, or as many as `seconds` allows (at least one)."""

    warmup: int
    batches: int
    seconds: float | None = None


@dataclass(frozen=True)
class Timed:
    warmup_batches: int
    batches: int
    samples: int
    wall_s: float
    cpu_s: float  # this process and every process below it
    gpu: dict
    cpu_below_s: float = 0.0  # of cpu_s, the processes below this one (workers, a server it started)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.wall_s

    @property
    def cpu_ms_per_sample(self) -> float:
        return 1000 * self.cpu_s / self.samples

    @property
    def cpu_utilisation(self) -> float:
        """Share of the usable cores busy with this backend's processes (1.0: all of them)."""
        return self.cpu_s / self.wall_s / usable_cores()


def time_stream(stream: Iterator[dict], budget: Budget, watch_gpu: bool) -> Timed:
    """Warm up, then time `stream` under `budget`."""
    for _ in range(budget.warmup):
        next(stream)
    batches = samples = 0
    with (GpuMonitor() if watch_gpu else _NoGpu()) as gpu:
        start, cpu_start = time.perf_counter(), process_cpu_s()
        while True:
            samples += len(next(stream)["index"])
            batches += 1
            elapsed = time.perf_counter() - start
            if (elapsed >= budget.seconds) if budget.seconds is not None else batches == budget.batches:
                break
        own_s, below_s = cpu_split_since(cpu_start)
    return Timed(budget.warmup, batches, samples, elapsed, own_s + below_s, gpu.summary(), below_s)


def measure(open_stream: Callable[[], Iterator[dict]], budget: Budget, watch_gpu: bool = False) -> Timed:
    """Build, warm up, time and tear down one backend."""
    stream = open_stream()
    try:
        return time_stream(stream, budget, watch_gpu)
    finally:
        stream.close()  # ends the DataLoader iterator (its workers) or releases the DALI pipeline
        del stream
        gc.collect()


class _NoGpu:
    def __enter__(self) -> "_NoGpu":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def summary(self) -> dict:
        return {"available": False, "reason": "not a GPU backend"}


def spread(values: list[float]) -> dict:
    """Median and spread of one figure over repeats."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "repeats": list(values)}
