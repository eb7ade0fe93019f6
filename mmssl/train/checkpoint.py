"""Checkpoint layout: one directory per reported checkpoint, written by every rank at once.

Ray Train merges the files that all ranks report together into one directory:
    trainer_state.pt                   rank 0: model, optimizer, step, epoch, world size
    rank-0003/method.pt                each rank: its objective state (queue, ...), small
    rank-0003/memory.bank.rows.npy     each rank: the rows of each memory-bank shard it owns
    rank-0003/loader.json              each rank: its reader position (exact resume on the same world size)
A checkpoint restores onto any number of workers: the method state of every saved rank is handed to
each new rank, which keeps the rows it now owns. Bank rows stay on disk until a new rank slices them
(`mmssl.memory.bank_files`), so a rank opens only the saved shards its rows overlap, memory-mapped.
Reader positions are only reused when the world size is unchanged (otherwise the epoch in progress is
re-read from its start with the new sharding). The lr schedule is rebuilt from the step (schedule.py).
A checkpoint on an object store is read where it lies (`filesystem`): the small files whole, and of
the bank rows only the byte ranges the rank keeps, so no rank downloads the other ranks' shards.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs
import torch

from mmssl.memory.bank_files import open_bank_rows, save_bank_rows

TRAINER_STATE = "trainer_state.pt"


def rank_dir(root: str | os.PathLike, rank: int) -> Path:
    return Path(root) / f"rank-{rank:04d}"


def write_rank_files(
    root: str | os.PathLike,
    rank: int,
    step: int,
    epoch: int,
    world_size: int,
    method_state: dict,
    loader_checkpoint: str | None,
    trainer_state: dict | None = None,
) -> None:
    """Write this rank's part of a checkpoint into `root` (rank 0 also passes `trainer_state`)."""
    own = rank_dir(root, rank)
    own.mkdir(parents=True, exist_ok=True)
    torch.save(save_bank_rows(method_state, own), own / "method.pt")
    (own / "loader.json").write_text(
        json.dumps({"step": step, "epoch": epoch, "world_size": world_size, "checkpoint": loader_checkpoint})
    )
    if trainer_state is not None:
        torch.save(dict(trainer_state, step=step, epoch=epoch, world_size=world_size), Path(root) / TRAINER_STATE)


@dataclass
class LoadedCheckpoint:
    trainer_state: dict
    method_states: list[dict]  # indexed by the saved rank; bank rows are `SavedRows`, read when sliced
    loader_checkpoints: list[str | None]  # indexed by the saved rank

    @property
    def step(self) -> int:
        return int(self.trainer_state["step"])

    @property
    def epoch(self) -> int:
        return int(self.trainer_state["epoch"])

    @property
    def world_size(self) -> int:
        return int(self.trainer_state["world_size"])


class _CheckpointFiles:
    """The files of one checkpoint directory, on local disk or on a store's filesystem (read there through
    the store's `StoreLocation`: its paths, and its whole-file reads with retries)."""

    def __init__(self, root: str | os.PathLike, filesystem: pafs.FileSystem | None):
        from mmssl.data.store import StoreLocation

        local = filesystem is None or isinstance(filesystem, pafs.LocalFileSystem)
        self.root = Path(root) if local else None
        self.store = None if local else StoreLocation(str(root), filesystem, str(root).rstrip("/"))
        self.filesystem = None if local else filesystem

    def path(self, relative: str) -> Path | str:
        return self.root / relative if self.store is None else self.store.path(relative)

    def exists(self, relative: str) -> bool:
        if self.store is None:
            return self.path(relative).exists()
        return self.filesystem.get_file_info(self.path(relative)).type == pafs.FileType.File

    def read_bytes(self, relative: str) -> bytes:
        return self.path(relative).read_bytes() if self.store is None else self.store.read_bytes(relative)

    def load(self, relative: str, mmap: bool = False):
        """Tensors and plain containers only (`weights_only=True`): a checkpoint from elsewhere cannot run code."""
        if self.store is None:
            return torch.load(self.path(relative), map_location="cpu", weights_only=True, mmap=mmap)
        return torch.load(io.BytesIO(self.read_bytes(relative)), map_location="cpu", weights_only=True)

    def trainer_state(self) -> dict:
        if not self.exists(TRAINER_STATE):
            raise FileNotFoundError(f"{self.path(TRAINER_STATE)} missing: {self.root or self.store.root} is not a "
                                    "complete mmssl checkpoint")
        return self.load(TRAINER_STATE)


def read_trainer_state(root: str | os.PathLike, filesystem: pafs.FileSystem | None = None) -> dict:
    """Rank 0's part (model, optimizer, step, epoch, world size): all an evaluation needs."""
    return _CheckpointFiles(root, filesystem).trainer_state()


def read_checkpoint(root: str | os.PathLike, filesystem: pafs.FileSystem | None = None) -> LoadedCheckpoint:
    """Load a checkpoint directory written by `write_rank_files`; names what is missing if incomplete.

    Method states are memory-mapped (read whole from a store: they are small) and their bank rows left
    where they lie, read when a rank slices them: keep `root` until they are loaded. With `filesystem`
    (a Ray checkpoint's, on a store), `root` is a path on it.
    """
    files = _CheckpointFiles(root, filesystem)
    trainer_state = files.trainer_state()
    world_size = int(trainer_state["world_size"])
    method_states, loader_checkpoints = [], []
    for rank in range(world_size):
        own = rank_dir("", rank).name
        if not files.exists(f"{own}/method.pt"):
            raise FileNotFoundError(f"{files.path(own + '/method.pt')} missing: rank {rank} of {world_size} did not "
                                    "save its state")
        method_state = files.load(f"{own}/method.pt", mmap=True)
        method_states.append(open_bank_rows(method_state, files.path(own), files.filesystem))
        loader = json.loads(files.read_bytes(f"{own}/loader.json"))
        if loader["step"] != trainer_state["step"]:
            raise ValueError(f"{files.path(own)}: saved at step {loader['step']} but {files.path(TRAINER_STATE)} is "
                             f"step {trainer_state['step']}")
        loader_checkpoints.append(loader["checkpoint"])
    return LoadedCheckpoint(trainer_state, method_states, loader_checkpoints)
