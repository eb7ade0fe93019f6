"""Where a run lives: `storage_path/name`, a local directory or a prefix on an object store.

With `--storage s3://bucket/runs` the run needs no shared disk at all. Ray Train writes and reads the
checkpoints (every rank's files: model, optimizer, bank shards, loader state) on the store through
its own storage support, given the store's pyarrow filesystem, and hands a resumed worker its
checkpoint from there. The driver's run files (run_spec.json, metrics.jsonl, TensorBoard, ...)
are written in a local staging copy, since an object store cannot append, and uploaded after each
report; a driver that resumes the run elsewhere first downloads them, so the history carries on.
Evaluation reads a stored run through `local_run_copy`: its run files and its latest complete
checkpoint's network (not the bank rows), downloaded once into the cache (the dataset is still read
from wherever the run read it).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from mmssl.data.store import StoreLocation, check_access, is_uri, open_location

RUN_CACHE_ROOT = Path("~/.cache/mmssl/runs")
CHECKPOINT_PREFIX = "checkpoint_"  # Ray Train's checkpoint directories


@dataclass(frozen=True)
class RunStorage:
    """A run's directory: on local disk (`staging` is the directory itself) or on a store."""

    location: StoreLocation  # the run directory
    staging: Path  # where the driver writes the run files

    @classmethod
    def local(cls, directory: str | os.PathLike) -> "RunStorage":
        directory = Path(os.path.expanduser(directory)).resolve()
        return cls(open_location(str(directory)), directory)

    @classmethod
    def of(cls, storage_path: str, name: str) -> "RunStorage":
        """The run `name` under `storage_path` (a directory, or a store URI such as s3://bucket/runs)."""
        if not is_uri(storage_path):
            return cls.local(Path(os.path.expanduser(storage_path)) / name)
        base, _, query = storage_path.partition("?")
        uri = f"{base.rstrip('/')}/{name}" + (f"?{query}" if query else "")
        return cls(open_location(uri), _cache_dir(uri))

    @property
    def remote(self) -> bool:
        return self.location.remote

    @property
    def display(self) -> str:
        """The run directory as the user names it (URI or path)."""
        return self.location.describe()

    def ray_storage(self) -> tuple[str, pafs.FileSystem | None]:
        """(storage_path, storage_filesystem) for Ray Train's RunConfig: the run directory's parent."""
        parent = self.location.root.rsplit("/", 1)[0]
        return (parent, self.location.filesystem) if self.remote else (str(self.staging.parent), None)

    def open(self) -> None:
        """Before a run starts or resumes: check the store, and bring its run files into the staging copy."""
        self.staging.mkdir(parents=True, exist_ok=True)
        if not self.remote:
            return
        check_access(self.location)
        for relative in self._run_files(self.location.root):
            target = self.staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.location.read_bytes(relative))

    def upload(self) -> None:
        """Copy the staging copy's run files to the store (nothing to do on local disk)."""
        if not self.remote:
            return
        for path in sorted(self.staging.rglob("*")):
            if path.is_file():
                self._write(path.relative_to(self.staging).as_posix(), path.read_bytes())

    def exists(self, name: str) -> bool:
        return self.location.exists(name)

    def write_text(self, name: str, text: str) -> None:
        """A small file in the run directory itself, from any node (e.g. a fault-injection marker)."""
        self._write(name, text.encode())

    def _write(self, relative: str, payload: bytes) -> None:
        if not self.remote:  # an object store has no directories to make
            self.location.filesystem.create_dir(self.location.path(*relative.split("/")[:-1]))
        with self.location.filesystem.open_output_stream(self.location.path(relative)) as out:
            out.write(payload)

    def _run_files(self, root: str) -> list[str]:
        """Paths (relative to `root`) of the run's files, checkpoints left out."""
        selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
        files = []
        for info in self.location.filesystem.get_file_info(selector):
            relative = info.path[len(root):].lstrip("/")
            if info.type == pafs.FileType.File and not relative.startswith(CHECKPOINT_PREFIX) and "/." not in f"/{relative}":
                files.append(relative)
        return files


def _cache_dir(uri: str) -> Path:
    """A local directory for the run at `uri`, named like the run (evaluation prints the name)."""
    name = uri.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return RUN_CACHE_ROOT.expanduser() / hashlib.sha1(uri.encode()).hexdigest()[:16] / name


def local_run_copy(uri: str) -> Path:
    """A local copy of the stored run at `uri` to evaluate: its run files and its latest complete checkpoint's
    trainer state (the network) with rank 0's loader.json (the step)."""
    from mmssl.train.checkpoint import TRAINER_STATE, rank_dir

    location = open_location(uri)
    check_access(location)
    copy = _cache_dir(uri)
    run = RunStorage(location, copy)
    run.open()  # the run files (run_spec.json, metrics.jsonl...)
    best, best_step = None, -1
    selector = pafs.FileSelector(location.root, allow_not_found=True)
    for info in location.filesystem.get_file_info(selector):
        if info.type != pafs.FileType.Directory or not info.base_name.startswith(CHECKPOINT_PREFIX):
            continue
        position = f"{info.base_name}/{rank_dir('', 0).name}/loader.json"
        if location.exists(info.base_name, TRAINER_STATE) and location.exists(position):
            step = int(json.loads(location.read_bytes(position))["step"])
            if step > best_step:
                best, best_step = info.base_name, step
    if best is not None and not (copy / best / TRAINER_STATE).exists():  # trainer state last: a cut copy is redone
        # the network is all an evaluation reads: the ranks' bank rows (51 GB for YFCC100M) stay on the store
        for relative in (f"{rank_dir('', 0).name}/loader.json", TRAINER_STATE):
            target = copy / best / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(location.read_bytes(best, relative))
    return copy
