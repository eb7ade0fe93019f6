"""Which samples (or shards) each rank reads in an epoch: deterministic, disjoint, covering.

For readers that do not shard themselves (e.g. an `external_source` feeding decord clips) and for
tests that check the DALI readers' own sharding. Every rank computes its own share from the same
arguments, with no communication.

Per-sample plans shuffle with a seeded bijection on [0, num_samples) (a Feistel network on the
next even power of two, with cycle walking), so a rank materialises only its own ~N/W indices: no
N-sized permutation is ever built, which keeps YFCC-scale plans (N ~ 1e8) cheap in memory.
Position p of the epoch's shuffled order goes to rank p % world_size (interleaved), so a dropped
or padded tail touches every rank by at most one sample per batch row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

Remainder = Literal["uneven", "drop", "pad"]
REMAINDER_POLICIES: tuple[str, ...] = ("uneven", "drop", "pad")

_FEISTEL_ROUNDS = 6
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a cheap avalanche hash of uint64 values (wraps mod 2**64)."""
    z = values.astype(np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def mix_hash(*words: int) -> int:
    """A 64-bit hash of a few non-negative integers (seeded substitutes, per-slot choices)."""
    value = np.uint64(0x9E3779B97F4A7C15)
    for word in words:
        value = _mix64(np.asarray([value ^ np.uint64(int(word) & 0xFFFFFFFFFFFFFFFF)]))[0]
    return int(value)


def _round_keys(epoch: int, seed: int) -> np.ndarray:
    """One 64-bit key per Feistel round, derived from (seed, epoch)."""
    words = [int(seed) & 0xFFFFFFFF, int(seed) >> 32 & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF]
    entropy = np.random.SeedSequence(words)
    return entropy.generate_state(_FEISTEL_ROUNDS, dtype=np.uint64)


def _feistel(values: np.ndarray, half_bits: int, keys: np.ndarray) -> np.ndarray:
    """A bijection on [0, 2**(2*half_bits)): balanced Feistel rounds over the two halves."""
    half_mask = np.uint64((1 << half_bits) - 1)
    shift = np.uint64(half_bits)
    left, right = values >> shift, values & half_mask
    for key in keys:
        left, right = right, left ^ (_mix64(right ^ key) & half_mask)
    return (left << shift) | right


def permute_positions(positions: np.ndarray, num_samples: int, epoch: int, seed: int) -> np.ndarray:
    """The sample index at each of `positions` of the epoch's shuffled order of `num_samples`.

    A pure function of (position, num_samples, epoch, seed): any subset of positions can be mapped
    on its own, and distinct positions in [0, num_samples) always give distinct samples.
    """
    positions = np.asarray(positions, dtype=np.uint64)
    if num_samples <= 1:
        return positions.astype(np.int64)
    half_bits = max(1, ((int(num_samples) - 1).bit_length() + 1) // 2)
    keys = _round_keys(epoch, seed)
    out = _feistel(positions, half_bits, keys)
    # cycle walking: the domain is < 4x num_samples, so few values need more than one more pass
    outside = out >= np.uint64(num_samples)
    while outside.any():
        out[outside] = _feistel(out[outside], half_bits, keys)
        outside = out >= np.uint64(num_samples)
    return out.astype(np.int64)


@dataclass(frozen=True)
class SampleSharding:
    """A per-sample sharding plan for `num_samples` samples over `world_size` ranks.

    remainder:
      - "uneven": every sample exactly once per epoch; ranks differ by at most one sample.
      - "drop": each rank gets the same count, a multiple of `batch_size`; the last
        `num_samples % (world_size*batch_size)` samples of the epoch's shuffled order are skipped
        (a different set each epoch when shuffling).
      - "pad": each rank gets the same count, a multiple of `batch_size`; the order is extended by
        repeating its first samples (as torch's DistributedSampler does), so every sample is read
        at least once and a few twice.
    """

    num_samples: int
    world_size: int
    seed: int = 0
    shuffle: bool = True
    remainder: Remainder = "uneven"
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {self.num_samples}")
        if self.world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {self.world_size}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.remainder not in REMAINDER_POLICIES:
            raise ValueError(f"remainder={self.remainder!r}: use one of {REMAINDER_POLICIES}")
        if self.remainder == "pad" and self.num_samples == 0:
            raise ValueError("remainder='pad' needs num_samples >= 1 (there is nothing to repeat)")

    @property
    def total_positions(self) -> int:
        """Length of the epoch's order after dropping or padding (summed over ranks)."""
        step = self.world_size * self.batch_size
        if self.remainder == "drop":
            return self.num_samples // step * step
        if self.remainder == "pad":
            return -(-self.num_samples // step) * step
        return self.num_samples

    def count_for_rank(self, rank: int) -> int:
        """How many samples `rank` reads each epoch (the same every epoch)."""
        self._check_rank(rank)
        total = self.total_positions
        return max(0, -(-(total - rank) // self.world_size))

    def rank_indices(self, rank: int, epoch: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Global sample indices (int64) that `rank` reads in `epoch`, in reading order.

        `start`/`stop` select reads [start, stop) of the rank's epoch without materialising the rest,
        so a loader can map one batch at a time at any dataset size.
        """
        self._check_rank(rank)
        end = self.total_positions if stop is None else min(self.total_positions, rank + stop * self.world_size)
        positions = np.arange(rank + start * self.world_size, end, self.world_size, dtype=np.int64)
        positions %= max(self.num_samples, 1)  # "pad": wrap to the start of the order
        if not self.shuffle:
            return positions
        return permute_positions(positions, self.num_samples, epoch, self.seed)

    def _check_rank(self, rank: int) -> None:
        if not 0 <= rank < self.world_size:
            raise ValueError(f"rank {rank} out of range for world_size {self.world_size}")


def rank_indices(
    num_samples: int,
    rank: int,
    world_size: int,
    epoch: int,
    seed: int = 0,
    *,
    shuffle: bool = True,
    remainder: Remainder = "uneven",
    batch_size: int = 1,
) -> np.ndarray:
    """Sample indices `rank` reads in `epoch`; see `SampleSharding` for the remainder policies."""
    plan = SampleSharding(num_samples, world_size, seed, shuffle, remainder, batch_size)
    return plan.rank_indices(rank, epoch)


@dataclass(frozen=True)
class ShardRange:
    """Samples [start, stop) of shard number `shard` (local positions within that shard)."""

    shard: int
    start: int
    stop: int

    @property
    def count(self) -> int:
        return self.stop - self.start


def _checked_counts(shard_sample_counts: Sequence[int], world_size: int) -> np.ndarray:
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    counts = np.asarray(shard_sample_counts, dtype=np.int64)
    if counts.ndim != 1:
        raise ValueError(f"shard_sample_counts must be a flat list of ints, got shape {counts.shape}")
    if (counts < 0).any():
        bad = int(np.flatnonzero(counts < 0)[0])
        raise ValueError(f"shard {bad} has a negative sample count {counts[bad]}; counts come from the manifest")
    return counts


def _shard_order(num_shards: int, epoch: int, seed: int, shuffle: bool) -> np.ndarray:
    if not shuffle:
        return np.arange(num_shards, dtype=np.int64)
    return permute_positions(np.arange(num_shards), num_shards, epoch, seed)


def assign_shards(
    shard_sample_counts: Sequence[int], world_size: int, *, epoch: int = 0, seed: int = 0, shuffle: bool = True
) -> list[list[int]]:
    """Whole shards per rank, balanced by sample count (greedy: largest shard to the lightest rank).

    For readers that can only open whole shards. Ties are broken by the epoch's shuffled shard
    order, so which rank reads which shard changes between epochs. With fewer non-empty shards than
    ranks, some ranks get none: use `assign_shard_ranges` then.
    """
    counts = _checked_counts(shard_sample_counts, world_size)
    order = _shard_order(len(counts), epoch, seed, shuffle)
    by_size = order[np.argsort(-counts[order], kind="stable")]
    loads = np.zeros(world_size, dtype=np.int64)
    shards_per_rank: list[list[int]] = [[] for _ in range(world_size)]
    for shard in by_size:
        rank = int(np.argmin(loads))
        shards_per_rank[rank].append(int(shard))
        loads[rank] += counts[shard]
    return shards_per_rank


def assign_shard_ranges(
    shard_sample_counts: Sequence[int],
    world_size: int,
    *,
    epoch: int = 0,
    seed: int = 0,
    shuffle: bool = True,
    drop_remainder: bool = False,
) -> list[list[ShardRange]]:
    """Contiguous runs of shards per rank, cutting at most two shards per rank, balanced to within one sample.

    The shards are laid end to end in the epoch's shuffled order and the run is cut into
    `world_size` near-equal pieces, so each rank opens few shards and reads them sequentially.
    `drop_remainder=True` makes every rank's count equal (the last `total % world_size` samples of
    the run are skipped).
    """
    counts = _checked_counts(shard_sample_counts, world_size)
    order = _shard_order(len(counts), epoch, seed, shuffle)
    total = int(counts.sum())
    used = total // world_size * world_size if drop_remainder else total
    bounds = [used * r // world_size for r in range(world_size + 1)]
    starts = np.concatenate([[0], np.cumsum(counts[order])])  # global start of each laid-out shard
    ranges: list[list[ShardRange]] = []
    for rank in range(world_size):
        lo, hi = bounds[rank], bounds[rank + 1]
        mine = []
        # only the laid-out shards that overlap [lo, hi): ends after lo and starts before hi
        first_pos = int(np.searchsorted(starts[1:], lo, side="right"))
        stop_pos = int(np.searchsorted(starts[:-1], hi, side="left"))
        for pos in range(first_pos, stop_pos):
            first, last = max(lo, starts[pos]), min(hi, starts[pos + 1])
            if first < last:  # skips empty shards
                mine.append(ShardRange(int(order[pos]), int(first - starts[pos]), int(last - starts[pos])))
        ranges.append(mine)
    return ranges
