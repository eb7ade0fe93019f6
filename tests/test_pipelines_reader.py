"""Reader helpers: the shard set of a dataset and the per-rank batch count."""

import pytest

from mmssl.pipelines.reader import ShardSet, batches_per_epoch


def test_shard_set_lists_every_sample(image_dataset):
    shards = ShardSet.from_dataset(image_dataset)
    assert shards.num_samples == 64 and len(shards.tar_paths) == len(shards.index_paths) > 1
    assert all(t.endswith(".tar") for t in shards.tar_paths)


def test_missing_dataset_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="prepare_data.py"):
        ShardSet.from_dataset(tmp_path)


@pytest.mark.parametrize(
    "num_samples, batch_size, num_shards, expected",
    [(64, 8, 1, 8), (64, 5, 3, 5), (65, 8, 2, 5), (10, 4, 3, 1), (12, 4, 3, 1)],
)
def test_batches_per_epoch_is_the_padded_largest_slice(num_samples, batch_size, num_shards, expected):
    assert batches_per_epoch(num_samples, batch_size, num_shards) == expected


def test_more_ranks_than_samples_is_refused():
    with pytest.raises(ValueError, match="cannot be split over 4 ranks"):
        batches_per_epoch(3, 1, 4)
