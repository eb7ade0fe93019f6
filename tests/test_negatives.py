"""Negatives: never a positive, uniform over the rest, the same for the same (seed, draw)."""

import numpy as np
import pytest

from mmssl.memory.negatives import sample_negatives


def test_excludes_positives_and_is_uniform():
    num_rows, positives = 20, np.array([0, 3, 3, 7])
    draws = np.concatenate([sample_negatives(num_rows, 1000, positives, seed=1, draw=d) for d in range(40)])
    counts = np.bincount(draws, minlength=num_rows)
    assert counts[[0, 3, 7]].sum() == 0
    allowed = np.delete(counts, [0, 3, 7])
    expected = draws.size / allowed.size
    # chi-square with 16 degrees of freedom: 99.9th percentile is about 39
    assert ((allowed - expected) ** 2 / expected).sum() < 39


def test_reproducible_per_seed_and_draw():
    a = sample_negatives(1000, 50, np.array([1]), seed=5, draw=2)
    assert np.array_equal(a, sample_negatives(1000, 50, np.array([1]), seed=5, draw=2))
    assert not np.array_equal(a, sample_negatives(1000, 50, np.array([1]), seed=5, draw=3))


def test_no_room_for_negatives():
    with pytest.raises(ValueError, match="cover the whole bank"):
        sample_negatives(3, 5, np.array([0, 1, 2]), seed=0, draw=0)
