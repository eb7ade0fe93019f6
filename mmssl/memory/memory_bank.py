"""A memory bank of N unit vectors, sharded by rows over the ranks of a process group.

At YFCC100M scale a replicated bank does not fit (100M x 128 x 4 B = 51 GB), so rank r of W keeps
only rows [start, stop) (`bank_layout.row_range`). Per step:

- `lookup`: the step's positives (every rank's batch indices) and one shared set of negatives
  (`negatives.sample_negatives`, identical on every rank) are fetched with one all-reduce: each rank
  writes the rows it owns into a zero buffer and the sum holds every row. Traffic is
  (global batch + num_negatives) x d, whatever N is.
- `update`: every rank's (index, feature) pairs are all-gathered (global batch x d) and each rank
  applies those it owns: m <- normalize(momentum * m + (1 - momentum) * feature).

With the same seed and the same calls, the rows equal those of a single replicated bank (W = 1).
Storage may be float16; all math is float32.
"""

from __future__ import annotations

import torch

from mmssl.memory.bank_layout import fill_initial_rows, row_range
from mmssl.memory.collectives import all_gather_cat, all_gather_sizes, all_reduce_sum_, world_rank_and_size
from mmssl.memory.negatives import sample_negatives

STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
LOAD_CHUNK_ROWS = 1 << 16  # rows copied at a time when restoring (32 MB at d=128 in float32)


class ShardedMemoryBank:
    """This rank's rows of the bank, plus the draw counter that makes negative sampling reproducible."""

    def __init__(
        self,
        num_rows: int,
        dim: int,
        *,
        momentum: float = 0.5,
        storage_dtype: str = "float32",
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ):
        if storage_dtype not in STORAGE_DTYPES:
            raise ValueError(f"bank storage_dtype {storage_dtype!r} is not one of {sorted(STORAGE_DTYPES)}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"memory momentum must be in [0, 1), got {momentum}")
        if dim < 1:
            raise ValueError(f"bank dim must be positive, got {dim}")
        group_rank, group_size = world_rank_and_size()
        if group_size > 1 and (group_rank, group_size) != (rank, world_size):
            raise ValueError(
                f"bank built for rank {rank} of {world_size} but the process group is rank {group_rank} of "
                f"{group_size}: pass the worker's global rank and world size"
            )
        self.num_rows, self.dim, self.momentum, self.seed = num_rows, dim, momentum, seed
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device)
        self.storage_dtype = STORAGE_DTYPES[storage_dtype]
        self.row_start, self.row_stop = row_range(num_rows, rank, world_size)
        # built in place at its storage dtype on its device: host memory holds one float32 block, not the shard
        shard = torch.empty((self.row_stop - self.row_start, dim), dtype=self.storage_dtype, device=self.device)
        self.rows = fill_initial_rows(shard, seed, self.row_start)
        self.draws = 0  # negative draws so far: the sampling RNG's counter

    def lookup(self, indices: torch.Tensor, num_negatives: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(memory rows of this rank's `indices` [B, d], shared negatives [num_negatives, d]), float32.

        Collective: every rank must call it at the same step.
        """
        indices = self._check_indices(indices)
        sizes = all_gather_sizes(indices.shape[0], self.device)
        all_positives = all_gather_cat(indices, sizes)
        negative_rows = sample_negatives(
            self.num_rows, num_negatives, all_positives.cpu().numpy(), self.seed, self.draws
        )
        self.draws += 1
        wanted = torch.cat([all_positives, torch.from_numpy(negative_rows).to(self.device)])
        fetched = self._fetch(wanted)
        offset = sum(sizes[: self.rank])
        positives = fetched[offset : offset + indices.shape[0]]
        return positives, fetched[all_positives.shape[0] :]

    @torch.no_grad()
    def update(self, indices: torch.Tensor, features: torch.Tensor) -> None:
        """Blend `features` [B, d] into rows `indices` and re-normalize; routed to the owning ranks.

        If an index occurs more than once in the global batch, the last occurrence (rank order, then
        batch order) wins. Collective: every rank must call it.
        """
        indices = self._check_indices(indices)
        if features.shape != (indices.shape[0], self.dim):
            raise ValueError(
                f"features of shape {tuple(features.shape)} do not fit {indices.shape[0]} indices of dim {self.dim}"
            )
        sizes = all_gather_sizes(indices.shape[0], self.device)
        all_indices = all_gather_cat(indices, sizes)
        all_features = all_gather_cat(features.detach().float(), sizes)
        keep = _last_occurrence(all_indices)
        all_indices, all_features = all_indices[keep], all_features[keep]
        mine = (all_indices >= self.row_start) & (all_indices < self.row_stop)
        local = all_indices[mine] - self.row_start
        blended = self.momentum * self.rows[local].float() + (1.0 - self.momentum) * all_features[mine]
        blended = blended / blended.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.rows[local] = blended.to(self.storage_dtype)

    def state(self) -> dict:
        """This rank's rows and their range, for a checkpoint. On CPU the rows are the live tensor, not a
        copy (the bank may be gigabytes): save the state before the next step."""
        return {
            "num_rows": self.num_rows,
            "dim": self.dim,
            "row_start": self.row_start,
            "row_stop": self.row_stop,
            "rows": self.rows.cpu(),
            "draws": self.draws,
            "seed": self.seed,
        }

    def load_states(self, states: list[dict]) -> None:
        """Restore from every saved rank's `state()`, whatever world size saved them.

        A state's rows may be a tensor or a `bank_files.SavedRows` (a checkpoint's file, read on demand);
        rows are copied LOAD_CHUNK_ROWS at a time and cast in place, so restoring holds one chunk beside the shard."""
        for state in states:
            if (state["num_rows"], state["dim"]) != (self.num_rows, self.dim):
                raise ValueError(
                    f"checkpointed bank is {state['num_rows']} x {state['dim']}, this bank is "
                    f"{self.num_rows} x {self.dim}: the dataset or embed_dim changed since the checkpoint"
                )
        covered = torch.zeros(self.row_stop - self.row_start, dtype=torch.bool)
        for state in states:
            lo, hi = max(self.row_start, state["row_start"]), min(self.row_stop, state["row_stop"])
            # only overlapping states are sliced: a saved shard on disk (bank_files.SavedRows) is opened only then
            for start in range(lo, hi, LOAD_CHUNK_ROWS):
                stop = min(hi, start + LOAD_CHUNK_ROWS)
                source = state["rows"][start - state["row_start"] : stop - state["row_start"]]
                self.rows[start - self.row_start : stop - self.row_start].copy_(source)
            if lo < hi:
                covered[lo - self.row_start : hi - self.row_start] = True
        if not covered.all():
            missing = int(torch.nonzero(~covered)[0]) + self.row_start
            raise ValueError(f"the saved bank states do not cover row {missing}: pass every rank's saved state")
        self.draws, self.seed = states[0]["draws"], states[0]["seed"]

    def _fetch(self, wanted: torch.Tensor) -> torch.Tensor:
        """Rows `wanted` (global indices) as float32, assembled from their owners with one all-reduce."""
        buffer = torch.zeros(wanted.shape[0], self.dim, dtype=self.storage_dtype, device=self.device)
        positions = torch.nonzero((wanted >= self.row_start) & (wanted < self.row_stop)).squeeze(1)
        buffer.index_copy_(0, positions, self.rows.index_select(0, wanted[positions] - self.row_start))
        return all_reduce_sum_(buffer).float()  # exactly one rank holds each row: the sum is exact

    def _check_indices(self, indices: torch.Tensor) -> torch.Tensor:
        indices = indices.to(self.device, torch.int64).reshape(-1)
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.num_rows):
            bad = indices[(indices < 0) | (indices >= self.num_rows)][0].item()
            raise IndexError(f"sample index {bad} is outside the bank of {self.num_rows} rows (manifest index 0..N-1)")
        return indices


def _last_occurrence(indices: torch.Tensor) -> torch.Tensor:
    """Positions of the last occurrence of each distinct value in `indices`."""
    unique, inverse = torch.unique(indices, return_inverse=True)
    positions = torch.arange(indices.shape[0], device=indices.device)
    last = torch.full((unique.shape[0],), -1, dtype=torch.int64, device=indices.device)
    return last.scatter_reduce(0, inverse, positions, reduce="amax")
