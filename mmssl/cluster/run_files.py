"""The run directory's files, written on the driver's node from what the ranks report.

Nodes of a cluster need not share a disk, and rank 0 need not run where the driver does, so no
worker writes a run file. Each rank sends its one-off records (where it runs, what it resumed with)
under `RECORDS_KEY` in its first `ray.train.report` after a start; Ray Train's controller, which runs
on the driver's node, hands every rank's report to `RunFiles.after_report`, which appends:
    metrics.jsonl               rank 0's metrics at each report
    placement.jsonl             one line per rank and start: node, local rank, pid
    resume-rank-NNNN.jsonl      one line per resume of that rank: step and state digests
    bad_samples.jsonl           one line per sample the loaders found bad: index, shard and key, reason
    sample_indices.jsonl        with train.record_sample_indices: each rank's batch of each step (manifest indices)
    tensorboard/                rank 0's scalars
On an object store they are written in the run's local staging copy and uploaded after each report
(run_storage.py): a store cannot append.
"""

from __future__ import annotations

import json
from pathlib import Path

import ray.train

from mmssl.cluster.run_storage import RunStorage
from mmssl.train.progress import TensorBoardLog

RECORDS_KEY = "mmssl_records"  # in a report: {"placement": {...}, "resume": {...}, "bad_samples": [...]}
BAD_SAMPLES_FILE = "bad_samples.jsonl"
SAMPLE_INDICES_FILE = "sample_indices.jsonl"


def without_records(metrics: dict) -> dict:
    """A report's metrics as the run's history shows them."""
    return {key: value for key, value in metrics.items() if key != RECORDS_KEY}


class RunFiles(ray.train.UserCallback):
    """Appends each report to the run's files; runs in Ray Train's controller, on the driver's node."""

    def __init__(self, run: RunStorage | str | Path):
        self.storage = run if isinstance(run, RunStorage) else RunStorage.local(run)
        self.run_dir = self.storage.staging
        self._board: TensorBoardLog | None = None  # made on first use: a writer does not pickle

    def after_report(self, run_context, metrics: list[dict], checkpoint) -> None:
        for reported in metrics:
            records = reported.get(RECORDS_KEY, {})
            if "placement" in records:
                self._append("placement.jsonl", records["placement"])
            if "resume" in records:
                self._append(f"resume-rank-{records['resume']['rank']:04d}.jsonl", records["resume"])
            for sample in records.get("bad_samples", ()):
                self._append(BAD_SAMPLES_FILE, sample)
            for batch in records.get("sample_indices", ()):
                self._append(SAMPLE_INDICES_FILE, batch)
        history = without_records(metrics[0])
        self._append("metrics.jsonl", history)
        if self._board is None:
            self._board = TensorBoardLog(str(self.run_dir / "tensorboard"))
        self._board.scalars(history["step"], {k: v for k, v in history.items() if isinstance(v, (int, float))})
        if self.storage.remote:
            self.storage.upload()

    def _append(self, name: str, record: dict) -> None:
        with open(self.run_dir / name, "a") as log:
            log.write(json.dumps(record) + "\n")
