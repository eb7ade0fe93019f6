"""Row ownership covers the bank exactly once, and initial rows do not depend on the split or on the
buffer they are built in."""

import numpy as np
import pytest
import torch

from mmssl.memory.bank_layout import INIT_BLOCK_ROWS, fill_initial_rows, initial_rows, row_range
from mmssl.memory.memory_bank import ShardedMemoryBank


@pytest.mark.parametrize("num_rows,world_size", [(10, 1), (10, 3), (7, 7), (100_003, 4)])
def test_ranges_partition_the_bank(num_rows, world_size):
    ranges = [row_range(num_rows, rank, world_size) for rank in range(world_size)]
    assert ranges[0][0] == 0 and ranges[-1][1] == num_rows
    assert all(ranges[r][1] == ranges[r + 1][0] for r in range(world_size - 1))
    sizes = [stop - start for start, stop in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="cannot be split"):
        row_range(2, 0, 3)
    with pytest.raises(ValueError, match="not in a world"):
        row_range(10, 3, 3)


def test_initial_rows_independent_of_split():
    num_rows, dim = INIT_BLOCK_ROWS + 1000, 8  # crosses a block boundary
    whole = initial_rows(seed=3, start=0, stop=num_rows, dim=dim)
    pieces = [initial_rows(3, *row_range(num_rows, rank, 3), dim) for rank in range(3)]
    assert torch.equal(torch.cat(pieces), whole)
    assert torch.allclose(whole.norm(dim=1), torch.ones(num_rows), atol=1e-6)
    assert not torch.equal(initial_rows(4, 0, 10, dim), whole[:10])  # the seed matters


def _initial_rows_as_first_released(seed: int, start: int, stop: int, dim: int) -> torch.Tensor:
    """The initial rows as mmssl made them before banks were built in place (whole shard in float32):
    saved checkpoints and seeded runs hold these values, so they are pinned here, not recomputed."""
    out = np.empty((stop - start, dim), dtype=np.float32)
    for block in range(start // INIT_BLOCK_ROWS, (stop - 1) // INIT_BLOCK_ROWS + 1):
        block_start = block * INIT_BLOCK_ROWS
        values = np.random.default_rng([seed, block]).standard_normal((INIT_BLOCK_ROWS, dim), dtype=np.float32)
        lo, hi = max(start, block_start), min(stop, block_start + INIT_BLOCK_ROWS)
        piece = values[lo - block_start : hi - block_start]
        out[lo - start : hi - start] = piece / np.maximum(np.linalg.norm(piece, axis=1, keepdims=True), 1e-12)
    return torch.from_numpy(out)


@pytest.mark.parametrize("dim", [3, 128])
def test_block_built_rows_equal_the_first_release_bit_for_bit(dim):
    num_rows = INIT_BLOCK_ROWS + 5  # rank 1 of 2 starts inside block 0 and ends inside block 1
    expected = _initial_rows_as_first_released(21, 0, num_rows, dim)
    for storage_dtype in ["float32", "float16"]:
        for rank in range(2):
            bank = ShardedMemoryBank(num_rows, dim, storage_dtype=storage_dtype, rank=rank, world_size=2, seed=21)
            assert bank.rows.dtype == bank.storage_dtype
            assert torch.equal(bank.rows, expected[bank.row_start : bank.row_stop].to(bank.storage_dtype))
    assert torch.equal(fill_initial_rows(torch.empty(9, dim), 21, INIT_BLOCK_ROWS - 4), expected[-9:])
