"""The sample plan: (epoch, global position) -> sample, shared out over any number of ranks.

The plan works on dense rows 0..R-1 of the samples a pipeline family can use (photos for image
families, videos for clip families, ...); `rows[r]` is the manifest index of row r. Each epoch the
rows are shuffled globally by a seeded bijection on positions (see sharding.py: no R-sized
permutation is built), so the sample at position p of epoch e depends on (seed, e, p) alone, never on
the world size: a run's data order is the same on 1, 2 or 8 ranks.

Ranks share the positions out in steps: in a step every rank takes a batch, rank r's slot j of the
step holding position `first + (step * batch_size + j) * world_size + r`. So after n steps the
epoch has handed out exactly positions [first, first + n * world_size * batch_size), whatever the
world size: one number, the global position, says how far an epoch got. A plan normally starts an
epoch at position 0; a plan built to continue a run on another number of ranks starts at the
position the run reached (`start_epoch`, `start_position`), and shares out only the positions not
yet handed out. Positions past the end of the epoch (the last step's padding, so every rank runs
the same number of full batches) wrap to the epoch's first positions: padding only at the epoch's end.

A sample that cannot be fed is replaced by a seeded pseudo-random other row (`substitute`), also a
function of (seed, epoch, position), so every process and every world size that asks gets the same
answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmssl.data.sharding import mix_hash, permute_positions


@dataclass(frozen=True)
class SamplePlan:
    num_rows: int
    batch_size: int
    rank: int = 0
    world_size: int = 1
    seed: int = 0
    shuffle: bool = True
    start_epoch: int = 0  # the epoch this plan starts in (its iteration 0)...
    start_position: int = 0  # ...and the first position of that epoch it hands out

    def __post_init__(self) -> None:
        if self.num_rows < self.world_size:
            raise ValueError(f"{self.num_rows} usable samples cannot be split over {self.world_size} ranks; "
                             "use fewer ranks or more data")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"shard_id must be in 0..{self.world_size - 1}, got {self.rank}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.start_epoch < 0 or not 0 <= self.start_position < self.num_rows:
            raise ValueError(f"a plan starts at an epoch >= 0 and a position in 0..{self.num_rows - 1}, got epoch "
                             f"{self.start_epoch}, position {self.start_position}")

    @property
    def step_size(self) -> int:
        """Positions one step hands out over all ranks."""
        return self.world_size * self.batch_size

    @property
    def batches_per_epoch(self) -> int:
        """Batches of a whole epoch, the same on every rank: ceil(R / (world_size * batch_size))."""
        return -(-self.num_rows // self.step_size)

    def batches_in_epoch(self, epoch: int) -> int:
        """Batches this plan runs in `epoch`: fewer in its start epoch when it starts mid-epoch."""
        if epoch < self.start_epoch:
            raise ValueError(f"epoch {epoch} is before this plan's start (epoch {self.start_epoch})")
        first = self.start_position if epoch == self.start_epoch else 0
        return -(-(self.num_rows - first) // self.step_size)

    def locate(self, iteration: int) -> tuple[int, int]:
        """(epoch, batch in that epoch) of the plan's `iteration`-th batch (DALI's iteration count)."""
        first = self.batches_in_epoch(self.start_epoch)
        if iteration < first:
            return self.start_epoch, iteration
        epochs, batch = divmod(iteration - first, self.batches_per_epoch)
        return self.start_epoch + 1 + epochs, batch

    def position(self, epoch: int, batch: int, slot: int) -> int:
        """The epoch position this rank's `slot` of `batch` holds (may run past the epoch's end: padding)."""
        first = self.start_position if epoch == self.start_epoch else 0
        return first + (batch * self.batch_size + slot) * self.world_size + self.rank

    def position_after(self, epoch: int, batches: int) -> int:
        """The global position once every rank has run `batches` batches of `epoch`: how far it got."""
        first = self.start_position if epoch == self.start_epoch else 0
        return min(self.num_rows, first + batches * self.step_size)

    def batch_rows(self, epoch: int, batch: int) -> np.ndarray:
        """Rows (int64 [batch_size]) of batch `batch` of `epoch` on this rank."""
        positions = np.array([self.position(epoch, batch, slot) for slot in range(self.batch_size)], np.int64)
        return self.rows_at(epoch, positions % self.num_rows)

    def rows_at(self, epoch: int, positions: np.ndarray) -> np.ndarray:
        """The rows at `positions` (each in 0..R-1) of the epoch's shuffled order."""
        positions = np.asarray(positions, np.int64)
        return permute_positions(positions, self.num_rows, epoch, self.seed) if self.shuffle else positions

    def substitute(self, epoch: int, position: int, attempt: int) -> int:
        """The row to try instead, after `attempt` + 1 rows for this epoch position could not be fed."""
        return mix_hash(self.seed, epoch, position, attempt) % self.num_rows

    def dali_seed(self) -> int:
        """The DALI pipeline's seed on this rank: augmentation draws are per rank. A plan that starts a
        run mid-way (after a resize) derives it from where it starts, so a resumed run is reproducible."""
        if (self.start_epoch, self.start_position) == (0, 0):
            return self.seed + 7919 * self.rank
        return mix_hash(self.seed, self.rank, self.world_size, self.start_epoch, self.start_position) & 0x7FFFFFFF
