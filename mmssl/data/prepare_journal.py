"""Resume state of a preparation run, journaled atomically after every finished shard.

On disk, beside the dataset: `.prepare/journal.json` (input spec, input cursor, next index, next
shard, the row files so far) and `.prepare/parts/` (manifest and rejection rows, one pair of
parquet files per checkpoint). Rows live in files, not in memory, so a 100M-row run stays small.
A restart drops whatever was written after the last journaled point and continues from the cursor.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from mmssl.data.manifest import MANIFEST_FILE, MANIFEST_SCHEMA, REJECTED_FILE, REJECTED_SCHEMA, SHARDS_DIR
from mmssl.data.manifest import manifest_table, rejected_table
from mmssl.data.shards import SHARD_PREFIX

JOURNAL_DIR = ".prepare"
LOCK_FILE = ".prepare.lock"
SUMMARY_FILE = "summary.json"


class PrepareRefused(Exception):
    """The output directory cannot be used as asked (other input, already complete, foreign files)."""


@dataclass
class JournalState:
    spec: dict
    cursor: int = 0  # inputs consumed (accepted or rejected) up to the last checkpoint
    next_index: int = 0
    next_shard: int = 0
    parts: list[int] = field(default_factory=list)
    elapsed_s: float = 0.0  # wall time of all runs up to the last checkpoint
    complete: bool = False


class Journal:
    """Owns `.prepare/`: opens (fresh / resumed / refused), checkpoints, and finalizes the tables."""

    def __init__(self, out_dir: Path, state: JournalState, lock_file):
        self.out_dir = out_dir
        self.state = state
        self._lock_file = lock_file  # held open (and flock-ed) while this run owns the directory

    @classmethod
    def open(cls, out_dir: str | os.PathLike, spec: dict, overwrite: bool = False) -> "Journal":
        """Take the directory (refusing if another run holds it), then start fresh or resume."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        lock_file = _lock(out_dir)
        try:
            return cls(out_dir, _open_state(out_dir, spec, overwrite), lock_file)
        except BaseException:
            lock_file.close()
            raise

    def close(self) -> None:
        """Release the directory (also released by the OS if the process dies)."""
        self._lock_file.close()

    def checkpoint(self, cursor: int, next_index: int, next_shard: int, manifest_rows: list[dict],
                   rejected_rows: list[dict], elapsed_s: float) -> None:
        """Persist rows since the last checkpoint, then the new position (the rename makes it count)."""
        part = len(self.state.parts)
        pq.write_table(manifest_table(manifest_rows), self._part_path(part, "manifest"))
        pq.write_table(rejected_table(rejected_rows), self._part_path(part, "rejected"))
        self.state.parts.append(part)
        self.state.cursor, self.state.next_index, self.state.next_shard = cursor, next_index, next_shard
        self.state.elapsed_s = elapsed_s
        self._save()

    def finalize(self, on_part: Callable[[pa.Table, pa.Table], None]) -> None:
        """Write manifest.parquet and rejected.parquet from the parts; mark the run complete.

        `on_part(manifest_part, rejected_part)` sees every part once (for the summary's counts)."""
        with _AtomicParquet(self.out_dir / MANIFEST_FILE, MANIFEST_SCHEMA) as manifest, \
                _AtomicParquet(self.out_dir / REJECTED_FILE, REJECTED_SCHEMA) as rejected:
            for part in self.state.parts:
                manifest_part = pq.read_table(self._part_path(part, "manifest"), schema=MANIFEST_SCHEMA)
                rejected_part = pq.read_table(self._part_path(part, "rejected"), schema=REJECTED_SCHEMA)
                manifest.write_table(manifest_part)
                rejected.write_table(rejected_part)
                on_part(manifest_part, rejected_part)
        self.state.complete = True
        self._save()
        shutil.rmtree(self.out_dir / JOURNAL_DIR / "parts", ignore_errors=True)

    def _part_path(self, part: int, kind: str) -> Path:
        return _part_path(self.out_dir, part, kind)

    def _save(self) -> None:
        write_json_atomic(self.out_dir / JOURNAL_DIR / "journal.json", asdict(self.state))


def _lock(out_dir: Path):
    lock_file = open(out_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise PrepareRefused(f"another preparation is running on {out_dir}; wait for it or stop it first") from None
    return lock_file


def _open_state(out_dir: Path, spec: dict, overwrite: bool) -> JournalState:
    if overwrite:
        remove_prepared(out_dir)
    path = out_dir / JOURNAL_DIR / "journal.json"
    if path.exists():
        state = _load_state(path)
        _check_resumable(out_dir, state, spec)
        _roll_back(out_dir, state)
        return state
    if (out_dir / MANIFEST_FILE).exists() or any((out_dir / SHARDS_DIR).glob("*")):
        raise PrepareRefused(
            f"{out_dir} already holds a dataset that has no preparation journal; "
            "choose an empty --output directory or pass --overwrite to replace it"
        )
    (out_dir / JOURNAL_DIR / "parts").mkdir(parents=True, exist_ok=True)
    state = JournalState(spec=spec)
    write_json_atomic(path, asdict(state))
    return state


def _load_state(path: Path) -> JournalState:
    try:
        return JournalState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as err:
        raise PrepareRefused(f"{path} is unreadable ({err}); pass --overwrite to start the preparation over") from None


def _part_path(out_dir: Path, part: int, kind: str) -> Path:
    return out_dir / JOURNAL_DIR / "parts" / f"part-{part:06d}.{kind}.parquet"


def _roll_back(out_dir: Path, state: JournalState) -> None:
    """Delete shards and parts written after the last checkpoint (an interrupted run's tail)."""
    for path in (out_dir / SHARDS_DIR).glob(f"{SHARD_PREFIX}*"):
        number = path.name[len(SHARD_PREFIX):].split(".")[0]
        if path.name.endswith(".partial") or not number.isdigit() or int(number) >= state.next_shard:
            path.unlink()
    listed = {_part_path(out_dir, p, kind).name for p in state.parts for kind in ("manifest", "rejected")}
    for path in (out_dir / JOURNAL_DIR / "parts").glob("*"):
        if path.name not in listed:
            path.unlink()


def _check_resumable(out_dir: Path, state: JournalState, spec: dict) -> None:
    if state.complete:
        raise PrepareRefused(
            f"{out_dir} is already a complete dataset ({state.next_index} samples, prepared from "
            f"{json.dumps(state.spec.get('input'))}); nothing to resume. Pass --overwrite to prepare it again "
            "from scratch, or choose another --output"
        )
    if state.spec != spec:
        raise PrepareRefused(
            f"{out_dir} holds an unfinished preparation of a different input or settings:\n"
            f"  journaled: {json.dumps(state.spec, sort_keys=True)}\n  now:       {json.dumps(spec, sort_keys=True)}\n"
            "Re-run with the journaled settings to resume it, or pass --overwrite to start over"
        )


class _AtomicParquet:
    """A parquet file written under a temporary name and renamed into place only when complete."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.tmp = path, path.with_name(path.name + ".partial")
        self.writer = pq.ParquetWriter(self.tmp, schema)

    def write_table(self, table: pa.Table) -> None:
        self.writer.write_table(table)

    def __enter__(self) -> "_AtomicParquet":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.writer.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def remove_prepared(out_dir: Path) -> None:
    """Delete exactly what preparation writes (never other files the user keeps in the folder)."""
    shutil.rmtree(out_dir / SHARDS_DIR, ignore_errors=True)
    shutil.rmtree(out_dir / JOURNAL_DIR, ignore_errors=True)
    for name in (MANIFEST_FILE, REJECTED_FILE, SUMMARY_FILE):
        (out_dir / name).unlink(missing_ok=True)


def write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
