"""Jigsaw permutation sets: valid permutations, greedy max-min Hamming, deterministic, cached."""

import numpy as np
import pytest

from mmssl.data.permutations import generate_permutations, load_permutations, min_hamming_distance


def test_rows_are_distinct_permutations():
    perms = generate_permutations(100, seed=0)
    assert perms.shape == (100, 9) and perms.dtype == np.int64
    assert (np.sort(perms, axis=1) == np.arange(9)).all()
    assert len({tuple(p) for p in perms}) == 100


def test_greedy_set_is_far_apart_compared_with_random():
    greedy = generate_permutations(100, seed=1)
    rng = np.random.default_rng(1)
    random_set = np.stack([rng.permutation(9) for _ in range(100)])
    assert min_hamming_distance(greedy) >= 6  # Noroozi & Favaro's 100-set reaches a minimum of 6 or more
    assert min_hamming_distance(greedy) > min_hamming_distance(random_set)


def test_each_pick_maximises_its_min_distance():
    perms = generate_permutations(12, num_tiles=4, seed=3)  # 4! = 24 candidates: check against brute force
    from itertools import permutations

    candidates = np.array(list(permutations(range(4))))
    for k in range(1, 12):
        chosen = perms[:k]
        best = max(min((c != p).sum() for p in chosen) for c in candidates)
        assert min((perms[k] != p).sum() for p in chosen) == best


def test_deterministic_and_cached(tmp_path):
    first = load_permutations(50, seed=7, cache_dir=tmp_path)
    assert list(tmp_path.glob("*.npy")) and not list(tmp_path.glob("*partial*"))
    assert np.array_equal(first, generate_permutations(50, seed=7))
    assert np.array_equal(first, load_permutations(50, seed=7, cache_dir=tmp_path))
    assert not np.array_equal(first, generate_permutations(50, seed=8))


def test_bad_count_names_the_range():
    with pytest.raises(ValueError, match="count must be in 1..24"):
        generate_permutations(25, num_tiles=4)
