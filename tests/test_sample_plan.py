"""The sample plan: full batches, equal counts per rank, a real shuffle, seeded substitutes."""

import numpy as np
import pytest

from mmssl.data.sample_plan import SamplePlan


def _epoch(plan: SamplePlan, epoch: int) -> np.ndarray:
    return np.concatenate([plan.batch_rows(epoch, b) for b in range(plan.batches_per_epoch)])


@pytest.mark.parametrize("num_rows, batch_size, world_size", [(100, 8, 1), (100, 8, 3), (7, 2, 3), (64, 64, 1)])
def test_ranks_cover_every_row_with_only_the_padding_repeated(num_rows, batch_size, world_size):
    plans = [SamplePlan(num_rows, batch_size, r, world_size, seed=3) for r in range(world_size)]
    assert len({p.batches_per_epoch for p in plans}) == 1
    slots = world_size * plans[0].batches_per_epoch * batch_size
    assert num_rows <= slots < num_rows + world_size * batch_size
    for epoch in range(3):
        rows = np.concatenate([_epoch(p, epoch) for p in plans])
        counts = np.bincount(rows, minlength=num_rows)
        assert (counts >= 1).all() and counts.sum() - num_rows == slots - num_rows


def test_epochs_and_seeds_give_different_orders_and_no_shuffle_keeps_order():
    plan = SamplePlan(1000, 10, seed=1)
    assert not np.array_equal(_epoch(plan, 0), _epoch(plan, 1))
    assert not np.array_equal(_epoch(plan, 0), _epoch(SamplePlan(1000, 10, seed=2), 0))
    assert np.array_equal(_epoch(SamplePlan(1000, 10, shuffle=False), 5), np.arange(1000))


def test_substitutes_are_seeded_rows_in_range_the_same_on_any_world_size():
    plan = SamplePlan(50, 4, rank=1, world_size=2, seed=9)
    picks = [plan.substitute(0, p, a) for p in range(40) for a in range(3)]
    assert picks == [SamplePlan(50, 4, 0, 3, 9).substitute(0, p, a) for p in range(40) for a in range(3)]
    assert all(0 <= p < 50 for p in picks) and len(set(picks)) > 30
    assert picks != [SamplePlan(50, 4, 1, 2, 10).substitute(0, p, a) for p in range(40) for a in range(3)]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="cannot be split over 4 ranks"):
        SamplePlan(3, 1, 0, 4)
    with pytest.raises(ValueError, match="shard_id must be in 0..1"):
        SamplePlan(10, 1, 2, 2)
