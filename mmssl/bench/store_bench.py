"""The training loader reading from an object store, beside the same dataset on local disk, in one run.

Rows: `local disk` (pread), `store` (range requests to the store as given) and, for each added
latency, `store +N ms` (through a LoopbackProxy that delays every request: only for a store on this
machine, e.g. `--local-s3`). Each row is timed like the profiler's backends (warm-up batches, then
timed ones; rounds interleaved, medians with their spread), and the store rows add what the reader
asked of the store during the timed batches: requests/s, MB/s, the most requests in flight at once,
retries, and the reads that found no prefetch of their member running (each waited a round trip).
Every row also splits its CPU per sample: the loader's process (decoding, augmenting, the store
client's requests) and the processes below it, which with `--local-s3` is the store server itself.
On a machine whose cores the loader already fills, the server's share is throughput the store row
loses that a store elsewhere would not cost.
The goal the docs track: the store row at 80% or more of local disk's samples/s.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow.fs as pafs

from mmssl.bench.timing import Budget, spread, time_stream
from mmssl.data.shard_reader import StoreOptions
from mmssl.data.store import open_location


@dataclass(frozen=True)
class StoreBenchConfig:
    uri: str  # the dataset on the store
    local_dir: str | None  # the same dataset on local disk (None: copied from the store first, untimed)
    pipeline: str = "pirl"
    batch_size: int = 32
    threads: int = 2
    warmup: int = 3
    batches: int = 20
    rounds: int = 3
    added_latency_ms: tuple[float, ...] = ()
    requests_in_flight: tuple[int, ...] = (StoreOptions().requests_in_flight,)  # a sweep: (1, 32) shows what it hides
    options: dict | None = None
    seed: int = 0


@dataclass(frozen=True)
class StoreRow:
    label: str
    samples_per_s: list[float]  # one per round
    requests_per_s: float | None = None  # medians of the rounds; None for local disk
    megabytes_per_s: float | None = None
    max_in_flight: int | None = None
    retries: int | None = None
    not_prefetched: int | None = None  # reads that waited a round trip, all rounds
    loader_cpu_ms: float | None = None  # CPU ms per sample of the loader's process (median round's)
    below_cpu_ms: float | None = None  # of the processes below it: the store server it started, if any


def run_store_bench(config: StoreBenchConfig) -> list[StoreRow]:
    with tempfile.TemporaryDirectory(prefix="mmssl-store-bench-") as scratch:
        local_dir = config.local_dir or copy_to_local(config.uri, Path(scratch) / "data")
        stores = [("store", config.uri)]
        proxies = []
        for latency_ms in config.added_latency_ms:
            proxy = _delaying_proxy(config.uri, latency_ms / 1000)
            proxies.append(proxy)
            stores.append((f"store +{latency_ms:g} ms", _through(config.uri, proxy.endpoint)))
        variants = [("local disk", str(local_dir), None)] + [
            (f"{label}, {in_flight} in flight", location, in_flight)
            for label, location in stores for in_flight in config.requests_in_flight]
        try:
            measured: dict[str, list[tuple[float, dict]]] = {label: [] for label, _, _ in variants}
            for _ in range(config.rounds):
                for label, location, in_flight in variants:
                    measured[label].append(_measure(config, location, in_flight or 1))
        finally:
            for proxy in proxies:
                proxy.stop()
    rows = []
    for label, _, _ in variants:
        rounds = measured[label]
        middle = sorted(rounds, key=lambda item: item[0])[len(rounds) // 2][1]
        cpu = dict(loader_cpu_ms=middle["loader_cpu_ms"], below_cpu_ms=middle["below_cpu_ms"])
        if "requests_per_s" not in middle:
            rows.append(StoreRow(label, [rate for rate, _ in rounds], **cpu))
            continue
        rows.append(StoreRow(label, [rate for rate, _ in rounds], middle["requests_per_s"], middle["megabytes_per_s"],
                             max(stats["max_in_flight"] for _, stats in rounds), sum(s["retries"] for _, s in rounds),
                             sum(s["not_prefetched"] for _, s in rounds), **cpu))
    return rows


def _measure(config: StoreBenchConfig, location: str, in_flight: int) -> tuple[float, dict]:
    from mmssl.pipelines.loader import build_loader

    loader = build_loader(config.pipeline, location, batch_size=config.batch_size, num_threads=config.threads,
                          seed=config.seed, options=config.options,
                          store=StoreOptions(requests_in_flight=in_flight))
    stream = _endless(loader)
    for _ in range(config.warmup):
        next(stream)
    before = loader.store_stats()
    timed = time_stream(stream, Budget(0, config.batches), watch_gpu=False)
    after = loader.store_stats()
    stream.close()
    del loader
    cpu = {"loader_cpu_ms": 1000 * (timed.cpu_s - timed.cpu_below_s) / timed.samples,
           "below_cpu_ms": 1000 * timed.cpu_below_s / timed.samples}
    if before is None:
        return timed.samples_per_s, cpu
    return timed.samples_per_s, {
        **cpu, "requests_per_s": (after.requests - before.requests) / timed.wall_s,
        "megabytes_per_s": (after.bytes - before.bytes) / timed.wall_s / 1e6,
        "max_in_flight": after.max_in_flight, "retries": after.retries - before.retries,
        "not_prefetched": after.not_prefetched - before.not_prefetched}


def _endless(loader):
    while True:
        yield from loader


def copy_to_local(uri: str, target: Path) -> Path:
    """The whole dataset copied from the store (for the local-disk row only; the loader never does this)."""
    location = open_location(uri)
    target.mkdir(parents=True, exist_ok=True)
    pafs.copy_files(location.root, str(target), source_filesystem=location.filesystem,
                    destination_filesystem=pafs.LocalFileSystem())
    return target


def _endpoint(uri: str) -> str:
    import os

    query = parse_qs(urlsplit(uri).query)
    endpoint = query.get("endpoint_override", [None])[-1] or os.environ.get("AWS_ENDPOINT_URL", "")
    return endpoint.split("://", 1)[-1].rstrip("/")


def _delaying_proxy(uri: str, delay_s: float):
    from mmssl.bench.loopback_proxy import LoopbackProxy

    host, _, port = _endpoint(uri).partition(":")
    if not host.startswith("127.") and host != "localhost":
        raise ValueError(f"--added-latency-ms needs a store on this machine (127.x endpoint), got {host or 'AWS'}; "
                         "use --local-s3, or measure a remote store as it is")
    proxy = LoopbackProxy(host, int(port), delay_s)
    proxy.endpoint = f"127.0.0.1:{proxy.start()}"
    return proxy


def _through(uri: str, endpoint: str) -> str:
    """`uri` with its endpoint replaced (the proxy's)."""
    base, _, query = uri.partition("?")
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    options.update(endpoint_override=endpoint, scheme="http")
    return base + "?" + "&".join(f"{name}={value}" for name, value in options.items())


def render_store_rows(config: StoreBenchConfig, rows: list[StoreRow]) -> str:
    """The table printed by bench_loader (and pasted into docs/benchmarks.md)."""
    local = spread(rows[0].samples_per_s)["median"]
    lines = [f"{config.pipeline}, batch {config.batch_size}, {config.threads} DALI threads, "
             f"{config.rounds} rounds x {config.batches} batches",
             "| data | samples/s | vs local disk | requests/s | MB/s | most in flight | retries | reads not prefetched "
             "| loader CPU ms/sample | local server CPU ms/sample |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        rate = spread(row.samples_per_s)
        store = ("-",) * 5 if row.requests_per_s is None else (
            f"{row.requests_per_s:.0f}", f"{row.megabytes_per_s:.1f}", str(row.max_in_flight), str(row.retries),
            str(row.not_prefetched))
        lines.append(f"| {row.label} | {rate['median']:.0f} ({rate['min']:.0f}-{rate['max']:.0f}) | "
                     f"{100 * rate['median'] / local:.0f}% | " + " | ".join(store)
                     + f" | {row.loader_cpu_ms:.1f} | {row.below_cpu_ms:.1f} |")
    return "\n".join(lines)
