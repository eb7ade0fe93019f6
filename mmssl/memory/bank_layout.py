"""Which rows of an N x d bank a rank owns, and their initial values.

Initial rows are generated in fixed-size blocks, each from its own seed, so a rank can make just its
slice and the result is the same for every world size (the sharded bank equals the replicated one).
"""

from __future__ import annotations

import numpy as np
import torch

INIT_BLOCK_ROWS = 1 << 16


def row_range(num_rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of the rows rank `rank` owns: contiguous, sizes differ by at most one."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    if num_rows < world_size:
        raise ValueError(f"a bank of {num_rows} rows cannot be split over {world_size} ranks; use fewer ranks")
    base, extra = divmod(num_rows, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def initial_rows(seed: int, start: int, stop: int, dim: int) -> torch.Tensor:
    """Rows [start, stop) of the initial bank: random unit vectors (float32), independent of sharding."""
    out = np.empty((stop - start, dim), dtype=np.float32)
    first_block, last_block = start // INIT_BLOCK_ROWS, (stop - 1) // INIT_BLOCK_ROWS
    for block in range(first_block, last_block + 1):
        block_start = block * INIT_BLOCK_ROWS
        values = np.random.default_rng([seed, block]).standard_normal((INIT_BLOCK_ROWS, dim), dtype=np.float32)
        lo, hi = max(start, block_start), min(stop, block_start + INIT_BLOCK_ROWS)
        piece = values[lo - block_start : hi - block_start]
        # normalize block by block: no second bank-sized buffer (the bank may be gigabytes)
        out[lo - start : hi - start] = piece / np.maximum(np.linalg.norm(piece, axis=1, keepdims=True), 1e-12)
    return torch.from_numpy(out)
