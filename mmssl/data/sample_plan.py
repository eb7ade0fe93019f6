"""The sample plan: (rank, world size, epoch, seed, batch, slot) -> which sample a loader feeds.

The plan works on dense rows 0..R-1 of the samples a pipeline family can use (photos for image
families, videos for clip families, ...); `rows[r]` is the manifest index of row r. Each epoch the
rows are shuffled globally (a seeded bijection, see sharding.py: no R-sized permutation is built),
position p of the order goes to rank p % world_size, and the order is padded by wrapping to its
start so every rank runs the same number of full batches. A sample that cannot be fed is replaced
by a seeded pseudo-random other row (`substitute`), so the batch stays full and every process that
asks gets the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mmssl.data.sharding import SampleSharding, mix_hash


@dataclass(frozen=True)
class SamplePlan:
    num_rows: int
    batch_size: int
    rank: int = 0
    world_size: int = 1
    seed: int = 0
    shuffle: bool = True

    def __post_init__(self) -> None:
        if self.num_rows < self.world_size:
            raise ValueError(f"{self.num_rows} usable samples cannot be split over {self.world_size} ranks; "
                             "use fewer ranks or more data")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"shard_id must be in 0..{self.world_size - 1}, got {self.rank}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @cached_property
    def _sharding(self) -> SampleSharding:
        return SampleSharding(self.num_rows, self.world_size, self.seed, self.shuffle, "pad", self.batch_size)

    @property
    def batches_per_epoch(self) -> int:
        """The same on every rank: ceil(R / (world_size * batch_size))."""
        return self._sharding.count_for_rank(self.rank) // self.batch_size

    def batch_rows(self, epoch: int, batch: int) -> np.ndarray:
        """Rows (int64 [batch_size]) of batch `batch` of `epoch` on this rank."""
        start = batch * self.batch_size
        return self._sharding.rank_indices(self.rank, epoch, start, start + self.batch_size)

    def substitute(self, epoch: int, batch: int, slot: int, attempt: int) -> int:
        """The row to try instead, after `attempt` + 1 rows of this slot could not be fed."""
        return mix_hash(self.seed, self.rank, epoch, batch, slot, attempt) % self.num_rows
