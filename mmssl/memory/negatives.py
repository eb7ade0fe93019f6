"""Negative row indices for one step: uniform over the bank, never one of the step's positives.

Every rank draws the same indices (same seed and draw counter), so no rank needs to send its
choice, and a run resumed on another world size continues the same sequence.
"""

from __future__ import annotations

import numpy as np


def sample_negatives(num_rows: int, count: int, positives: np.ndarray, seed: int, draw: int) -> np.ndarray:
    """`count` indices drawn uniformly (with replacement) from [0, num_rows) minus `positives`.

    Rejection sampling: a draw that hits a positive is redrawn, which keeps the distribution uniform
    over the allowed rows.
    """
    excluded = np.unique(np.asarray(positives, dtype=np.int64))
    if count < 1:
        raise ValueError(f"num_negatives must be at least 1, got {count}")
    if num_rows - excluded.size < 1:
        raise ValueError(
            f"the batch's {excluded.size} positives cover the whole bank of {num_rows} rows: "
            "no negative can be drawn; use a dataset larger than the global batch"
        )
    rng = np.random.default_rng([seed, draw])
    indices = rng.integers(0, num_rows, size=count, dtype=np.int64)
    hits = np.isin(indices, excluded)
    while hits.any():
        indices[hits] = rng.integers(0, num_rows, size=int(hits.sum()), dtype=np.int64)
        hits = np.isin(indices, excluded)
    return indices
