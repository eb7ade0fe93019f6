"""The preparation driver: inputs -> Ray tasks (or in-process) -> shards, manifest, rejections, summary.

The driver alone writes: it enumerates inputs lazily, sends batches to workers with a bounded
window of tasks in flight, and consumes results in submission order, so indices stay dense and a
run is reproducible. After each finished shard it journals its position (see prepare_journal.py).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from mmssl.data.dataset_writer import DatasetWriter
from mmssl.data.member_table import MEMBERS_DIR, build_member_table
from mmssl.data.prepare_journal import SUMMARY_FILE, Journal, PrepareRefused, write_json_atomic
from mmssl.data.normalize_image import ImageConfig
from mmssl.data.normalize_video import VideoConfig
from mmssl.data.prepare_summary import SummaryTally
from mmssl.data.prepare_local import GuardedItems
from mmssl.data.prepare_store import StoreOutput
from mmssl.data.prepare_worker import Outcome, process_batch, timed_out
from mmssl.data.sources import FolderSource, InputItem, StoreFolderSource, WebdatasetSource, YfccSource
from mmssl.data.store import is_uri

Source = FolderSource | StoreFolderSource | YfccSource | WebdatasetSource


@dataclass(frozen=True)
class PrepareConfig:
    """Everything a run needs besides the input. `workers=None`: one task in flight per Ray CPU."""

    output_dir: str
    shard_bytes: int = 256 << 20
    image: ImageConfig = field(default_factory=ImageConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    workers: int | None = None
    batch_size: int = 16  # inputs per Ray task
    address: str | None = None  # Ray cluster; None starts a local Ray
    local: bool = False  # no Ray: normalize input by input in a child process (tiny inputs, debugging)
    overwrite: bool = False
    stop_after_shards: int | None = None  # finish this many shards in this run, then stop (resumable)
    task_timeout_s: float = 1800.0  # per Ray task (batch) from its turn, then per retried input; --local: per input
    progress: bool = True

    def __post_init__(self):
        if self.shard_bytes < 1 << 10:
            raise ValueError(f"shard size must be at least 1 KiB, got {self.shard_bytes} bytes")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.stop_after_shards is not None and self.stop_after_shards < 1:
            raise ValueError(f"--stop-after-shards must be >= 1, got {self.stop_after_shards}")
        if self.task_timeout_s <= 0:
            raise ValueError(f"--task-timeout-s must be positive, got {self.task_timeout_s}")
        if self.local and self.address:
            raise ValueError("--local and --address exclude each other: --local runs without Ray")


def prepare(source: Source, config: PrepareConfig) -> dict:
    """Prepare `source` into `config.output_dir`; returns the summary (also saved as summary.json).

    Resumes an interrupted run of the same input and settings; refuses (PrepareRefused) a different
    one or an already complete directory unless `config.overwrite`. An output URI (`s3://bucket/prefix`)
    is written through a local staging copy, pushed at every journaled point (prepare_store.py)."""
    store = None
    if is_uri(config.output_dir):
        store = StoreOutput(config.output_dir)
        config = replace(config, output_dir=str(store.pull(config.overwrite)), overwrite=False)
    out_dir = Path(config.output_dir)
    if isinstance(source, FolderSource) and out_dir.resolve().is_relative_to(Path(source.root).resolve()):
        raise PrepareRefused(f"--output {out_dir} lies inside --input {source.root}: the run would ingest its own "
                         "shards; choose an output directory outside the input folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        journal = Journal.open(out_dir, run_spec(source, config), overwrite=config.overwrite)
    except PrepareRefused as refused:  # name the store, not its staging copy
        raise PrepareRefused(str(refused).replace(str(out_dir), store.uri) if store else str(refused)) from None
    try:
        return _run(source, config, journal, store)
    finally:
        journal.close()


def _run(source: Source, config: PrepareConfig, journal: Journal, store: StoreOutput | None = None) -> dict:
    """The driver loop: consume outcomes in order, checkpoint after every shard, finalize at the end."""
    out_dir, state = Path(config.output_dir), journal.state
    started_s, earlier_runs_s = time.monotonic(), state.elapsed_s
    writer = DatasetWriter(out_dir, config.shard_bytes, first_index=state.next_index, first_shard=state.next_shard)
    items = source.items(start=state.cursor)
    outcomes = _outcomes(_batches(items, config.batch_size), config)
    cursor, finished_before, counts = state.cursor, 0, Counter()
    try:
        with tqdm(desc="prepare", unit="file", initial=state.cursor, disable=not config.progress) as bar:
            for outcome in outcomes:
                _record(writer, outcome)
                cursor += 1
                counts["accepted" if outcome.accepted else "rejected"] += 1
                bar.update(1)
                if len(writer.shards.finished) > finished_before:
                    finished_before = len(writer.shards.finished)
                    _checkpoint(journal, writer, cursor, earlier_runs_s + time.monotonic() - started_s)
                    if store is not None:
                        store.push()
                    if config.stop_after_shards is not None and finished_before >= config.stop_after_shards:
                        return {"complete": False, "cursor": cursor, "shards_finished": finished_before, **counts}
    finally:
        outcomes.close()  # stops Ray tasks still in flight
    writer.shards.close()
    elapsed_s = earlier_runs_s + time.monotonic() - started_s
    _checkpoint(journal, writer, cursor, elapsed_s)
    tally = SummaryTally()
    journal.finalize(tally.add)
    summary = tally.summary(state.next_shard, elapsed_s, sum(counts.values()), time.monotonic() - started_s)
    if store is not None:
        store.push_final(summary)
        return summary
    build_member_table(out_dir, out_dir / MEMBERS_DIR)  # the loaders' table of contents (summary.json marks it done)
    write_json_atomic(out_dir / SUMMARY_FILE, summary)
    return summary


def run_spec(source: Source, config: PrepareConfig) -> dict:
    """What must match for a resume: the input and every setting that changes the output bytes."""
    spec = {
        "input": source.spec(),
        "shard_bytes": config.shard_bytes,
        "image": asdict(config.image),
        "video": asdict(config.video),
    }
    return json.loads(json.dumps(spec))  # the form it has when read back from the journal


def _record(writer: DatasetWriter, outcome: Outcome) -> None:
    if outcome.accepted:
        writer.add(outcome.members, outcome.fields)
    else:
        writer.reject(outcome.source, outcome.stage, outcome.reason)


def _checkpoint(journal: Journal, writer: DatasetWriter, cursor: int, elapsed_s: float) -> None:
    # called only between shards (right after one finished, or after the last was closed)
    journal.checkpoint(cursor, writer.next_index, writer.shards.next_shard, writer.manifest_rows,
                       writer.rejected_rows, elapsed_s)
    writer.manifest_rows.clear()
    writer.rejected_rows.clear()


def _batches(items: Iterable[InputItem], batch_size: int) -> Iterator[list[InputItem]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, batch_size)):
        yield batch


def _outcomes(batches: Iterator[list[InputItem]], config: PrepareConfig) -> Iterator[Outcome]:
    if config.local:
        return _local_outcomes(batches, config)
    return _ray_outcomes(batches, config)


def _local_outcomes(batches: Iterator[list[InputItem]], config: PrepareConfig) -> Iterator[Outcome]:
    """Inputs one at a time in a child process, each under `task_timeout_s` (no Ray)."""
    guarded = GuardedItems(config.image, config.video, config.task_timeout_s)
    try:
        for batch in batches:
            yield from (guarded.outcome(item) for item in batch)
    finally:
        guarded.close()


def _ray_outcomes(batches: Iterator[list[InputItem]], config: PrepareConfig) -> Iterator[Outcome]:
    """Batches as Ray tasks, at most 2x`workers` in flight, results yielded in submission order."""
    import ray

    started_ray = _ensure_ray(config)
    try:
        tasks = RayBatches(config)
        workers = config.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        in_flight: deque = deque()
        try:
            for batch in itertools.chain(batches, [None]):
                if batch is not None:
                    in_flight.append((batch, tasks.submit(batch)))
                while in_flight and (batch is None or len(in_flight) >= 2 * workers):
                    yield from tasks.collect(*in_flight.popleft())
        finally:
            for _, ref in in_flight:
                ray.cancel(ref)
    finally:
        if started_ray:
            ray.shutdown()


class RayBatches:
    """Runs `task` (process_batch) on batches as Ray tasks. A batch whose task died, or was still
    running `task_timeout_s` after its turn, is retried one input per task, so one input that crashes
    a worker (a decoder segfault, an OOM kill) or hangs it costs only its own refusal."""

    def __init__(self, config: PrepareConfig, task=process_batch):
        import ray

        self._ray = ray
        self._remote = ray.remote(num_cpus=1, max_retries=0)(task)
        self._configs = ray.put(config.image), ray.put(config.video)
        self.timeout_s = config.task_timeout_s

    def submit(self, batch: list[InputItem]):
        return self._remote.remote(batch, *self._configs)

    def collect(self, batch: list[InputItem], ref) -> list[Outcome]:
        try:
            return self._ray.get(ref, timeout=self.timeout_s)
        except self._ray.exceptions.GetTimeoutError:
            self._ray.cancel(ref, force=True)
            return self._one_by_one(batch) if len(batch) > 1 else [timed_out(batch[0], self.timeout_s)]
        except (self._ray.exceptions.RayError, OSError) as err:
            if len(batch) > 1:
                return self._one_by_one(batch)
            first_line = str(err).splitlines()[0] if str(err) else ""
            return [Outcome(batch[0].source, stage="worker", reason=f"worker failed: {type(err).__name__}: {first_line}")]

    def _one_by_one(self, batch: list[InputItem]) -> list[Outcome]:
        """Each input of a failed batch in its own task, all submitted at once, collected in order."""
        refs = [self.submit([item]) for item in batch]
        return [outcome for item, ref in zip(batch, refs) for outcome in self.collect([item], ref)]


def _ensure_ray(config: PrepareConfig) -> bool:
    """Connect to `config.address`, or start a local Ray (dashboard off); True when we started it."""
    import ray

    if ray.is_initialized():
        return False
    if config.address:
        ray.init(address=config.address, log_to_driver=False)
    else:
        # address="local": a fresh private Ray even when another one runs on this machine
        ray.init(address="local", num_cpus=config.workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    return True
