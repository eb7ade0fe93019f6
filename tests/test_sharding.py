"""The sharding plan: deterministic, disjoint across ranks, covering, balanced, reshuffled per epoch."""

import numpy as np
import pytest

from mmssl.data.sharding import (
    SampleSharding,
    ShardRange,
    assign_shard_ranges,
    assign_shards,
    permute_positions,
    rank_indices,
)


def all_ranks(plan: SampleSharding, epoch: int) -> list[np.ndarray]:
    return [plan.rank_indices(rank, epoch) for rank in range(plan.world_size)]


@pytest.mark.parametrize("num_samples", [1, 2, 3, 7, 64, 1000, 4097, 65537])
def test_permutation_is_a_bijection(num_samples):
    order = permute_positions(np.arange(num_samples), num_samples, epoch=3, seed=11)
    assert np.array_equal(np.sort(order), np.arange(num_samples))


def test_permutation_is_not_the_identity_and_changes_with_seed_and_epoch():
    n = 10_000
    base = permute_positions(np.arange(n), n, epoch=0, seed=0)
    other_epoch = permute_positions(np.arange(n), n, epoch=1, seed=0)
    other_seed = permute_positions(np.arange(n), n, epoch=0, seed=1)
    # a random permutation has ~1 fixed point; a weak mixing would leave long runs in place
    assert (base == np.arange(n)).sum() < 20
    assert (base != other_epoch).mean() > 0.99
    assert (base != other_seed).mean() > 0.99
    # position i's sample is roughly uniform: no correlation with i
    assert abs(np.corrcoef(np.arange(n), base)[0, 1]) < 0.05


@pytest.mark.parametrize("world_size", range(1, 9))
def test_uneven_plan_is_disjoint_and_covers_every_sample(world_size):
    plan = SampleSharding(num_samples=1003, world_size=world_size, seed=5)
    parts = all_ranks(plan, epoch=2)
    union = np.concatenate(parts)
    assert len(union) == 1003 and np.array_equal(np.sort(union), np.arange(1003))
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == [plan.count_for_rank(r) for r in range(world_size)]


@pytest.mark.parametrize("world_size", range(1, 9))
def test_drop_gives_equal_batched_counts_and_skips_only_the_tail(world_size):
    batch_size = 4
    plan = SampleSharding(1003, world_size, seed=1, remainder="drop", batch_size=batch_size)
    parts = all_ranks(plan, epoch=0)
    kept = 1003 // (world_size * batch_size) * world_size * batch_size
    assert {len(p) for p in parts} == {kept // world_size}
    assert (kept // world_size) % batch_size == 0
    union = np.concatenate(parts)
    assert len(np.unique(union)) == kept  # still disjoint
    # what is dropped is exactly the tail of the epoch's shuffled order
    order = permute_positions(np.arange(1003), 1003, epoch=0, seed=1)
    assert set(union.tolist()) == set(order[:kept].tolist())


@pytest.mark.parametrize("world_size", range(1, 9))
def test_pad_gives_equal_batched_counts_and_repeats_the_head(world_size):
    batch_size = 3
    plan = SampleSharding(1003, world_size, seed=1, remainder="pad", batch_size=batch_size)
    parts = all_ranks(plan, epoch=4)
    padded = -(-1003 // (world_size * batch_size)) * world_size * batch_size
    assert {len(p) for p in parts} == {padded // world_size}
    union = np.concatenate(parts)
    assert np.array_equal(np.unique(union), np.arange(1003))  # every sample read
    values, times = np.unique(union, return_counts=True)
    repeated = set(values[times == 2].tolist())
    assert len(repeated) == padded - 1003 and times.max() <= 2
    order = permute_positions(np.arange(1003), 1003, epoch=4, seed=1)
    assert repeated == set(order[: padded - 1003].tolist())


def test_plan_is_deterministic_and_reshuffles_each_epoch():
    plan = SampleSharding(5000, world_size=4, seed=9)
    again = SampleSharding(5000, world_size=4, seed=9)
    for rank in range(4):
        assert np.array_equal(plan.rank_indices(rank, 3), again.rank_indices(rank, 3))
    epoch0, epoch1 = plan.rank_indices(0, 0), plan.rank_indices(0, 1)
    assert not np.array_equal(epoch0, epoch1)
    # a rank sees a different subset, not just the same subset reordered
    assert len(set(epoch0.tolist()) & set(epoch1.tolist())) < 0.5 * len(epoch0)


def test_no_shuffle_is_the_interleaved_identity():
    parts = [rank_indices(10, r, 3, epoch=7, shuffle=False) for r in range(3)]
    assert [p.tolist() for p in parts] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]


def test_property_random_configurations():
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(0, 3000))
        world = int(rng.integers(1, 9))
        batch = int(rng.integers(1, 9))
        remainder = str(rng.choice(["uneven", "drop", "pad"])) if n else str(rng.choice(["uneven", "drop"]))
        plan = SampleSharding(n, world, seed=int(rng.integers(0, 2**40)), remainder=remainder, batch_size=batch)
        epoch = int(rng.integers(0, 100))
        parts = all_ranks(plan, epoch)
        union = np.concatenate(parts)
        assert len(union) == plan.total_positions
        assert ((union >= 0) & (union < max(n, 1))).all()
        if remainder == "pad":
            assert np.array_equal(np.unique(union), np.arange(n))
        else:
            assert len(np.unique(union)) == len(union)  # disjoint
        if remainder == "uneven":
            assert len(union) == n
        else:
            assert len({len(p) for p in parts}) == 1 and len(parts[0]) % batch == 0


def test_large_plan_touches_only_the_rank_share():
    n, world = 50_000_000, 8
    part = rank_indices(n, 5, world, epoch=1, seed=3)
    assert len(part) == n // world
    assert part.min() >= 0 and part.max() < n
    assert len(np.unique(part[:200_000])) == 200_000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_samples=-1, world_size=2), "num_samples"),
        (dict(num_samples=10, world_size=0), "world_size"),
        (dict(num_samples=10, world_size=2, batch_size=0), "batch_size"),
        (dict(num_samples=10, world_size=2, remainder="wrap"), "remainder"),
        (dict(num_samples=0, world_size=2, remainder="pad"), "pad"),
    ],
)
def test_bad_plan_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SampleSharding(**kwargs)


def test_rank_out_of_range_is_named():
    with pytest.raises(ValueError, match="rank 4 out of range for world_size 4"):
        SampleSharding(10, 4).rank_indices(4, 0)


def shard_samples(counts, assigned: list[int]) -> list[tuple[int, int]]:
    return [(shard, i) for shard in assigned for i in range(counts[shard])]


@pytest.mark.parametrize("world_size", range(1, 9))
def test_whole_shards_are_disjoint_covering_and_balanced(world_size):
    rng = np.random.default_rng(world_size)
    counts = rng.integers(50, 150, size=37).tolist()
    per_rank = assign_shards(counts, world_size, epoch=1, seed=2)
    flat = [s for shards in per_rank for s in shards]
    assert sorted(flat) == list(range(37))
    loads = [sum(counts[s] for s in shards) for shards in per_rank]
    # greedy largest-first: no rank exceeds the lightest by more than the largest shard
    assert max(loads) - min(loads) <= max(counts)
    assert assign_shards(counts, world_size, epoch=1, seed=2) == per_rank


def test_whole_shards_move_between_epochs():
    counts = [100] * 16
    assert assign_shards(counts, 4, epoch=0) != assign_shards(counts, 4, epoch=1)


@pytest.mark.parametrize("world_size", range(1, 9))
@pytest.mark.parametrize("drop_remainder", [False, True])
def test_shard_ranges_are_disjoint_covering_and_balanced(world_size, drop_remainder):
    counts = [120, 0, 7, 300, 55, 1, 0, 90, 64]
    per_rank = assign_shard_ranges(counts, world_size, epoch=2, seed=4, drop_remainder=drop_remainder)
    samples = [
        (piece.shard, i) for pieces in per_rank for piece in pieces for i in range(piece.start, piece.stop)
    ]
    total = sum(counts)
    assert len(samples) == len(set(samples))
    assert all(0 <= i < counts[shard] for shard, i in samples)
    loads = [sum(piece.count for piece in pieces) for pieces in per_rank]
    if drop_remainder:
        assert len(set(loads)) == 1 and sum(loads) == total // world_size * world_size
    else:
        assert sorted(samples) == sorted(shard_samples(counts, list(range(len(counts)))))
        assert max(loads) - min(loads) <= 1
    assert all(piece.count > 0 for pieces in per_rank for piece in pieces)


def test_shard_ranges_without_shuffle_follow_the_shard_order():
    assert assign_shard_ranges([4, 4, 4], 2, shuffle=False) == [
        [ShardRange(0, 0, 4), ShardRange(1, 0, 2)],
        [ShardRange(1, 2, 4), ShardRange(2, 0, 4)],
    ]


def test_negative_shard_count_is_named():
    with pytest.raises(ValueError, match="shard 1 has a negative sample count -3"):
        assign_shards([5, -3], 2)
