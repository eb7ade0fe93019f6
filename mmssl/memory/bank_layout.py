"""Which rows of an N x d bank a rank owns, and their initial values.

Initial rows are generated in fixed-size blocks, each from its own seed, so a rank can make just its
slice and the result is the same for every world size (the sharded bank equals the replicated one).
They are written block by block into the bank's own buffer, so building a bank of any storage dtype
holds one float32 block beside it, never a float32 copy of the shard.
"""

from __future__ import annotations

import numpy as np
import torch

INIT_BLOCK_ROWS = 1 << 16  # rows per seeded block; changing it changes every initial row
NORM_CHUNK_ROWS = 1 << 12  # rows normalized at a time, so the norm's temporaries stay small


def row_range(num_rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of the rows rank `rank` owns: contiguous, sizes differ by at most one."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    if num_rows < world_size:
        raise ValueError(f"a bank of {num_rows} rows cannot be split over {world_size} ranks; use fewer ranks")
    base, extra = divmod(num_rows, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def fill_initial_rows(rows: torch.Tensor, seed: int, start: int) -> torch.Tensor:
    """Write rows [start, start + len(rows)) of the initial bank into `rows` and return it.

    `rows` may be float32 or float16, on any device: each block is made in float32 on the host and
    cast as it is copied, so the values equal `initial_rows(...).to(rows.dtype)` bit for bit.
    """
    if rows.dim() != 2:
        raise ValueError(f"bank rows must be a [rows, dim] tensor, got shape {tuple(rows.shape)}")
    stop, dim = start + rows.shape[0], rows.shape[1]
    values = np.empty((INIT_BLOCK_ROWS, dim), dtype=np.float32)  # one block, refilled: the only host buffer
    for block in range(start // INIT_BLOCK_ROWS, (stop - 1) // INIT_BLOCK_ROWS + 1):
        block_start = block * INIT_BLOCK_ROWS
        lo, hi = max(start, block_start), min(stop, block_start + INIT_BLOCK_ROWS)
        piece = _fill_unit_block(values, seed, block)[lo - block_start : hi - block_start]
        rows[lo - start : hi - start].copy_(torch.from_numpy(piece))
    return rows


def initial_rows(seed: int, start: int, stop: int, dim: int) -> torch.Tensor:
    """Rows [start, stop) of the initial bank: random unit vectors (float32), independent of sharding."""
    return fill_initial_rows(torch.empty((stop - start, dim), dtype=torch.float32), seed, start)


def _fill_unit_block(values: np.ndarray, seed: int, block: int) -> np.ndarray:
    """Block `block` of the initial bank into `values` [INIT_BLOCK_ROWS, d]: standard normal rows, each
    scaled to unit norm."""
    np.random.default_rng([seed, block]).standard_normal(dtype=np.float32, out=values)
    for lo in range(0, INIT_BLOCK_ROWS, NORM_CHUNK_ROWS):
        chunk = values[lo : lo + NORM_CHUNK_ROWS]  # a view: divided in place, row by row as before
        chunk /= np.maximum(np.linalg.norm(chunk, axis=1, keepdims=True), 1e-12)
    return values
