"""Elastic resume: an epoch continues on any number of ranks from its global position, exactly once.

The plan maps (seed, epoch, position) to a sample whatever the world size, and a step of W ranks hands
out W * batch_size consecutive positions, so a checkpoint's global position says which positions are
left. Checked at loader level for an image family, `clips` and `av_pairs`: 2 ranks read part of an
epoch, then 3 ranks (or 1) restored from any rank's checkpoint read the rest; together they read each
sample once, the epoch's first positions again as padding at its end. Restarting the epoch instead
(what a loader restored from its plain rank-local position did) fails the same check.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from fixtures_video import prepared_video, write_video_dataset
from mmssl.data.sample_plan import SamplePlan
from mmssl.pipelines.loader import build_loader

FAMILIES = {
    "pirl": (5, {"image_size": 32, "tile_crop_px": 48, "tile_px": 16}),  # batch size, options
    "clips": (2, {"crop_px": 32, "frames": 2}),
    "av_pairs": (2, {"crop_px": 32, "frames": 2, "audio_s": 0.5, "n_mels": 32, "negative_fraction": 0.5}),
}


@pytest.fixture(scope="module")
def sounding_videos(tmp_path_factory):
    return write_video_dataset(tmp_path_factory.mktemp("elastic_videos"), [
        prepared_video(16, width=96, height=64, audio_events_s=(0.2 + 0.02 * i,)) for i in range(15)])


def data_of(family: str, image_dataset, sounding_videos):
    return image_dataset if family == "pirl" else sounding_videos


@pytest.mark.parametrize("world_sizes", [(1, 2, 8), (3, 5)])
def test_the_sample_at_each_position_does_not_depend_on_the_world_size(world_sizes):
    """Positions 0..R-1 of an epoch hold the same samples on any number of ranks, and a plan that starts
    mid-epoch hands out exactly the positions after its start, once each."""
    orders = []
    for world_size in world_sizes:
        order = {}
        for rank in range(world_size):
            plan = SamplePlan(37, 3, rank, world_size, seed=11)
            for batch in range(plan.batches_in_epoch(2)):
                for slot, row in enumerate(plan.batch_rows(2, batch)):
                    position = plan.position(2, batch, slot)
                    if position < 37:
                        assert order.setdefault(position, int(row)) == int(row)
        orders.append([order[p] for p in range(37)])
    assert all(order == orders[0] for order in orders) and sorted(orders[0]) == list(range(37))
    resumed = [SamplePlan(37, 3, rank, 4, seed=11, start_epoch=2, start_position=20) for rank in range(4)]
    positions = [p.position(2, b, s) for p in resumed for b in range(p.batches_in_epoch(2)) for s in range(3)]
    assert sorted(q for q in positions if q < 37) == list(range(20, 37))  # each left position once
    assert len(positions) - 17 < 4 * 3  # padding: less than one step


def run_ranks(family, data_dir, world_size, batches=None, checkpoints=None, seed=3):
    """Each rank's loader and the indices it read: `batches` batches, or the rest of the epoch."""
    batch_size, options = FAMILIES[family]
    loaders, read = [], []
    for rank in range(world_size):
        state = None if checkpoints is None else checkpoints[rank % len(checkpoints)]
        loader = build_loader(family, data_dir, batch_size=batch_size, shard_id=rank, num_shards=world_size,
                              seed=seed, num_threads=1, checkpoint=state, options=options)
        stream = iter(loader)
        taken = [next(stream) for _ in range(batches)] if batches is not None else list(stream)
        loaders.append(loader)
        read.append([i for batch in taken for i in batch["index"].tolist()])
    return loaders, read


def covers_the_epoch_once(before: list[list[int]], after: list[list[int]], resumed) -> str | None:
    """None when the reads before and after the resize hold every sample once, except the padding: the
    samples at the epoch's first positions, read again at its end. Else what is wrong."""
    plan = resumed._source.plan
    everything = [i for rank in before + after for i in rank]
    counts = Counter(everything)
    samples = set(resumed._source.index_of_row(row) for row in range(plan.num_rows))
    padding = len(everything) - plan.num_rows
    first = {resumed._source.index_of_row(int(row)) for row in plan.rows_at(0, np.arange(max(padding, 0)))}
    if set(counts) != samples:
        return f"samples never read: {sorted(samples - set(counts))}"
    twice = {i for i, n in counts.items() if n > 1}
    if max(counts.values()) > 2 or twice != first or padding >= plan.step_size:
        return f"read more than once beyond the padding: {sorted(twice - first)} (padding {padding})"
    return None


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("new_world_size", [3, 1])
def test_two_ranks_then_another_number_read_the_epoch_once(family, new_world_size, image_dataset, sounding_videos):
    data_dir = data_of(family, image_dataset, sounding_videos)
    loaders, before = run_ranks(family, data_dir, 2, batches=2)
    assert len({loader.position for loader in loaders}) == 1  # one global position: every rank agrees
    states = [loader.checkpoint() for loader in loaders]
    resumed, after = run_ranks(family, data_dir, new_world_size, checkpoints=states)
    assert all(loader.epochs_done == 1 and loader.epoch == 0 for loader in resumed)
    assert covers_the_epoch_once(before, after, resumed[0]) is None
    padding = sum(map(len, before + after)) - resumed[0].num_samples
    for a in range(new_world_size):  # the resumed ranks are disjoint, padding aside
        for b in range(a):
            assert len(set(after[a]) & set(after[b])) <= padding
    # the next epoch is the plan's epoch 1 on the new ranks: whole, from position 0
    following = [next(iter(loader))["index"].tolist() for loader in resumed]
    plan = SamplePlan(resumed[0].num_samples, FAMILIES[family][0], 0, new_world_size, seed=3)
    assert following[0] == [resumed[0]._source.index_of_row(int(r)) for r in plan.batch_rows(1, 0)]


@pytest.mark.parametrize("family", ["pirl", "av_pairs"])
def test_restarting_the_epoch_fails_the_same_check(family, image_dataset, sounding_videos):
    """What a resize did before global positions: the new ranks read the epoch from its start."""
    data_dir = data_of(family, image_dataset, sounding_videos)
    _, before = run_ranks(family, data_dir, 2, batches=2)
    restarted, after = run_ranks(family, data_dir, 3)
    assert covers_the_epoch_once(before, after, restarted[0]) is not None


def test_same_world_size_resumes_exactly_and_a_resize_reseeds_augmentation(image_dataset):
    """The rank's own checkpoint on the same world size gives the next batch bit for bit; on another world
    size the global state is used and DALI is seeded from (seed, rank, world size, epoch, position)."""
    batch_size, options = FAMILIES["pirl"]
    kwargs = dict(batch_size=batch_size, num_shards=2, seed=3, num_threads=1, options=options)
    loader = build_loader("pirl", image_dataset, shard_id=1, **kwargs)
    stream = iter(loader)
    next(stream)
    state = loader.checkpoint()
    expected = next(stream)
    same = next(iter(build_loader("pirl", image_dataset, shard_id=1, checkpoint=state, **kwargs)))
    for name in expected:
        assert (expected[name] == same[name]).all(), name
    resized = [build_loader("pirl", image_dataset, shard_id=0, checkpoint=state, **dict(kwargs, num_shards=3))
               for _ in range(2)]
    assert resized[0].plan.start_position == 10 and resized[0].plan.dali_seed() == resized[1].plan.dali_seed()
    twice = [next(iter(loader)) for loader in resized]
    assert (twice[0]["image"] == twice[1]["image"]).all()  # reproducible after the resize
