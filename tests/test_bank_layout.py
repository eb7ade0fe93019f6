"""Row ownership covers the bank exactly once, and initial rows do not depend on the split."""

import pytest
import torch

from mmssl.memory.bank_layout import INIT_BLOCK_ROWS, initial_rows, row_range


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
