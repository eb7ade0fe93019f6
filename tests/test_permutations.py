"""Jigsaw permutation sets: valid permutations, each rule's greedy pick checked by brute force and by
hand, deterministic, cached per method."""

from itertools import permutations

import numpy as np
import pytest

from mmssl.data.permutations import (
    SELECTION_METHODS,
    generate_permutations,
    load_permutations,
    mean_hamming_distance,
    min_hamming_distance,
)


@pytest.fixture(scope="module")
def sets_of_100():
    """100 permutations of 9 tiles by each rule (about 1.3 s apiece), seed 1."""
    return {method: generate_permutations(100, seed=1, method=method) for method in SELECTION_METHODS}


@pytest.mark.parametrize("method", SELECTION_METHODS)
def test_rows_are_distinct_permutations(method, sets_of_100):
    perms = sets_of_100[method]
    assert perms.shape == (100, 9) and perms.dtype == np.int64
    assert (np.sort(perms, axis=1) == np.arange(9)).all()
    assert len({tuple(p) for p in perms}) == 100


def test_each_rule_beats_a_random_set_on_what_it_maximises(sets_of_100):
    rng = np.random.default_rng(1)
    random_set = np.stack([rng.permutation(9) for _ in range(100)])
    max_min, max_avg = sets_of_100["max_min"], sets_of_100["max_avg"]
    assert min_hamming_distance(max_min) >= 6 > min_hamming_distance(random_set)
    assert mean_hamming_distance(max_avg) > mean_hamming_distance(random_set) + 0.05  # random pairs: 8 on average
    assert min_hamming_distance(max_avg) < min_hamming_distance(max_min)  # the paper's rule ignores the minimum


def _mean_distance(candidate, chosen) -> float:
    return float(np.mean([(candidate != p).sum() for p in chosen], dtype=np.float64))


def _min_distance(candidate, chosen) -> float:
    return float(min((candidate != p).sum() for p in chosen))


@pytest.mark.parametrize("method, score", [("max_avg", _mean_distance), ("max_min", _min_distance)])
def test_each_pick_maximises_its_rule_among_the_rest(method, score):
    perms = generate_permutations(12, num_tiles=4, seed=3, method=method)  # 4! = 24 candidates: brute force
    candidates = np.array(list(permutations(range(4))))
    for k in range(1, 12):
        chosen = perms[:k]
        rest = [c for c in candidates if not any((c == p).all() for p in chosen)]
        assert score(perms[k], chosen) == max(score(c, chosen) for c in rest), (method, k)


def test_sixth_pick_of_five_tiles_by_hand():
    """Five tiles. Five permutations pairwise 5 apart (a Latin square, what both rules pick first) have
    each value once per position, so every other permutation agrees with them in exactly 5 places:
    mean distance (25 - 5) / 5 = 4 to all of them. max_avg sees a tie among all 115 others and may
    take one 2 or 3 from some row; max_min must take one that agrees with each row once (4 from each)."""
    sixth_min = {}
    for method in SELECTION_METHODS:
        sixth_min[method] = []
        for seed in range(10):
            perms = generate_permutations(6, num_tiles=5, seed=seed, method=method)
            distances = (perms[:, None] != perms[None]).sum(axis=2)
            assert (distances[:5, :5] == 5 - 5 * np.eye(5, dtype=int)).all(), (method, seed)
            assert distances[5, :5].sum() == 20, (method, seed)
            sixth_min[method].append(distances[5, :5].min())
    assert sixth_min["max_min"] == [4] * 10
    assert min(sixth_min["max_avg"]) < 4


def test_deterministic_and_cached_per_method(tmp_path):
    first = load_permutations(50, 7, seed=7, method="max_avg", cache_dir=tmp_path)
    assert [p.name for p in tmp_path.glob("*.npy")] == ["hamming_max_avg_7tiles_50_seed7.npy"]
    assert np.array_equal(first, generate_permutations(50, 7, seed=7, method="max_avg"))
    assert np.array_equal(first, load_permutations(50, 7, seed=7, method="max_avg", cache_dir=tmp_path))
    assert not np.array_equal(first, generate_permutations(50, 7, seed=8, method="max_avg"))
    other = load_permutations(50, 7, seed=7, method="max_min", cache_dir=tmp_path)
    assert not np.array_equal(first, other) and len(list(tmp_path.glob("*.npy"))) == 2
    assert not list(tmp_path.glob("*partial*"))


def test_bad_count_and_method_name_the_choices():
    with pytest.raises(ValueError, match="count must be in 1..24"):
        generate_permutations(25, num_tiles=4)
    with pytest.raises(ValueError, match="max_avg.*max_min"):
        generate_permutations(5, num_tiles=4, method="max_mean")
