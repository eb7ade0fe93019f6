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
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

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


def read_checkpoint(root: str | os.PathLike) -> LoadedCheckpoint:
    """Load a checkpoint directory written by `write_rank_files`; names what is missing if incomplete.

    Tensors and plain containers only (`weights_only=True`): a checkpoint from elsewhere cannot run code.
    Method states are memory-mapped and their bank rows left on disk: keep `root` until they are loaded.
    """
    root = Path(root)
    state_path = root / TRAINER_STATE
    if not state_path.exists():
        raise FileNotFoundError(f"{state_path} missing: {root} is not a complete mmssl checkpoint")
    trainer_state = torch.load(state_path, map_location="cpu", weights_only=True)
    world_size = int(trainer_state["world_size"])
    method_states, loader_checkpoints = [], []
    for rank in range(world_size):
        own = rank_dir(root, rank)
        if not (own / "method.pt").exists():
            raise FileNotFoundError(f"{own / 'method.pt'} missing: rank {rank} of {world_size} did not save its state")
        method_state = torch.load(own / "method.pt", map_location="cpu", weights_only=True, mmap=True)
        method_states.append(open_bank_rows(method_state, own))
        loader = json.loads((own / "loader.json").read_text())
        if loader["step"] != trainer_state["step"]:
            raise ValueError(f"{own}: saved at step {loader['step']} but {state_path} is step {trainer_state['step']}")
        loader_checkpoints.append(loader["checkpoint"])
    return LoadedCheckpoint(trainer_state, method_states, loader_checkpoints)
