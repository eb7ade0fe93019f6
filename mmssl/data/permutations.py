"""Jigsaw permutation sets: K permutations of the tiles chosen greedily for large Hamming distance.

Noroozi & Favaro (2016) pick each next permutation as the one, among all n!, whose smallest Hamming
distance to the permutations already chosen is largest; a set far apart makes the K-way classification
well posed. Generation is deterministic for a seed and costs seconds for K=2000, so sets are cached
as .npy files.
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import numpy as np

DEFAULT_CACHE_DIR = Path(os.environ.get("MMSSL_CACHE_DIR", Path.home() / ".cache" / "mmssl")) / "permutations"
MAX_ENUMERATED_TILES = 9  # 9! = 362,880 candidates; 16! would not fit in memory


def all_permutations(num_tiles: int) -> np.ndarray:
    """Every permutation of `num_tiles` tiles, [num_tiles!, num_tiles] uint8, in lexicographic order."""
    if not 2 <= num_tiles <= MAX_ENUMERATED_TILES:
        raise ValueError(f"num_tiles must be in 2..{MAX_ENUMERATED_TILES} to enumerate all permutations, got {num_tiles}")
    return np.array(list(itertools.permutations(range(num_tiles))), dtype=np.uint8)


def generate_permutations(count: int, num_tiles: int = 9, seed: int = 0) -> np.ndarray:
    """`count` permutations [count, num_tiles] int64 by greedy max-min Hamming distance.

    The first permutation is drawn at random (seeded); each next one maximises its minimum Hamming
    distance to the chosen set, ties broken by a seeded random pick.
    """
    candidates = all_permutations(num_tiles)
    if not 1 <= count <= len(candidates):
        raise ValueError(f"count must be in 1..{len(candidates)} for {num_tiles} tiles, got {count}")
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(candidates)))]
    min_distance = np.full(len(candidates), num_tiles + 1, dtype=np.int16)
    for _ in range(count - 1):
        distance = (candidates != candidates[chosen[-1]]).sum(axis=1, dtype=np.int16)
        np.minimum(min_distance, distance, out=min_distance)
        best = np.flatnonzero(min_distance == min_distance.max())
        chosen.append(int(best[rng.integers(len(best))]))
    return candidates[chosen].astype(np.int64)


def load_permutations(count: int, num_tiles: int = 9, seed: int = 0, cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """The permutation set for (count, num_tiles, seed), generated once and then read from the cache."""
    cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    path = cache_dir / f"hamming_{num_tiles}tiles_{count}_seed{seed}.npy"
    if path.exists():
        perms = np.load(path)
        if perms.shape == (count, num_tiles):
            return perms
    perms = generate_permutations(count, num_tiles, seed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.partial.npy")
    np.save(tmp, perms)
    os.replace(tmp, path)  # atomic: concurrent ranks never read a half-written set
    return perms


def min_hamming_distance(perms: np.ndarray) -> int:
    """Smallest Hamming distance between any two rows of `perms` (for checks and reports)."""
    distances = (perms[:, None, :] != perms[None, :, :]).sum(axis=2)
    np.fill_diagonal(distances, perms.shape[1] + 1)
    return int(distances.min())


def count_of_all(num_tiles: int) -> int:
    return math.factorial(num_tiles)
