"""Bank rows in a checkpoint: a rank restored onto another world size opens only the saved shards its
rows overlap, reads them a slice at a time, and gets exactly its rows."""

import numpy as np
import pytest
import torch

from mmssl.memory import bank_files
from mmssl.memory.memory_bank import ShardedMemoryBank
from mmssl.train.checkpoint import read_checkpoint, rank_dir, write_rank_files

NUM_ROWS, DIM = 10, 4  # 3 saved ranks own rows [0, 4), [4, 7), [7, 10); 2 new ranks own [0, 5), [5, 10)


def _save_three_ranks(root, storage_dtype="float32"):
    """Banks whose global row i holds the value i, saved by 3 ranks the way a method nests them."""
    for rank in range(3):
        bank = ShardedMemoryBank(NUM_ROWS, DIM, rank=rank, world_size=3, storage_dtype=storage_dtype)
        rows = torch.arange(bank.row_start, bank.row_stop, dtype=torch.float32)[:, None].expand(-1, DIM)
        bank.rows.copy_(rows)
        bank.draws = 7
        state = {"memory": {"bank": bank.state(), "log_normalizers": {"a": 1.5}}}
        write_rank_files(root, rank, 5, 0, 3, state, None, {"model": {}} if rank == 0 else None)


@pytest.fixture
def opened(tmp_path, monkeypatch):
    """The file under the checkpoint of every bank-rows file opened (its header read), in order."""
    calls, real_read_header = [], bank_files.read_npy_header

    def recording_read_header(path):
        calls.append(path.relative_to(tmp_path).as_posix())
        return real_read_header(path)

    monkeypatch.setattr(bank_files, "read_npy_header", recording_read_header)
    return calls


def _restore(root, rank, world_size, storage_dtype="float32"):
    saved = read_checkpoint(root)
    bank = ShardedMemoryBank(NUM_ROWS, DIM, rank=rank, world_size=world_size, storage_dtype=storage_dtype)
    bank.load_states([state["memory"]["bank"] for state in saved.method_states])
    return bank, saved


@pytest.mark.parametrize("storage_dtype", ["float32", "float16"])
def test_a_new_rank_opens_only_the_shards_it_overlaps(tmp_path, opened, storage_dtype):
    _save_three_ranks(tmp_path, storage_dtype)
    # the shard new rank 0 does not overlap is damaged: rank 0 must not even open it
    (rank_dir(tmp_path, 2) / "memory.bank.rows.npy").write_bytes(b"garbage")
    bank, saved = _restore(tmp_path, 0, 2, storage_dtype)
    assert opened == ["rank-0000/memory.bank.rows.npy", "rank-0001/memory.bank.rows.npy"]
    assert (bank.row_start, bank.row_stop) == (0, 5)
    assert torch.equal(bank.rows.float(), torch.arange(5.0)[:, None].expand(-1, DIM))
    assert bank.draws == 7 and saved.method_states[1]["memory"]["log_normalizers"] == {"a": 1.5}
    # the small method states hold no rows: each names its rows file
    assert all(isinstance(s["memory"]["bank"]["rows"], bank_files.SavedRows) for s in saved.method_states)

    opened.clear()
    with pytest.raises(ValueError, match="rank-0002/memory.bank.rows.npy.*resume from an earlier checkpoint"):
        _restore(tmp_path, 1, 2, storage_dtype)  # rank 1 needs the damaged shard
    assert opened == ["rank-0001/memory.bank.rows.npy", "rank-0002/memory.bank.rows.npy"]


def test_rows_read_whole_for_inspection(tmp_path):
    _save_three_ranks(tmp_path)
    states = [bank_files.read_all_rows(s) for s in read_checkpoint(tmp_path).method_states]
    rows = torch.cat([s["memory"]["bank"]["rows"] for s in states])
    assert torch.equal(rows, torch.arange(10.0)[:, None].expand(-1, DIM))


def test_a_rows_name_outside_the_checkpoint_is_refused(tmp_path):
    state = {"bank": {"num_rows": 2, "dim": 1, "row_start": 0, "row_stop": 2, "rows": "../../elsewhere.npy"}}
    with pytest.raises(ValueError, match="not a file beside it"):
        bank_files.open_bank_rows(state, tmp_path)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_saved_rows_read_the_slice_asked_for(tmp_path, dtype):
    rows = torch.randn(9, 3).to(dtype)
    state = bank_files.save_bank_rows({"bank": {"num_rows": 9, "dim": 3, "row_start": 0, "row_stop": 9, "rows": rows}},
                                      tmp_path)
    saved = bank_files.open_bank_rows(state, tmp_path)["bank"]["rows"]
    for start, stop in [(0, 9), (2, 5), (8, 9), (4, 4)]:
        assert saved[start:stop].dtype == dtype
        assert torch.equal(saved[start:stop], rows[start:stop])


def test_a_truncated_or_foreign_rows_file_is_named(tmp_path):
    path = tmp_path / "bank.rows.npy"
    np.save(path, np.zeros((6, 2), dtype="float32"))
    path.write_bytes(path.read_bytes()[:-8])  # the last row is cut off
    with pytest.raises(ValueError, match="bank.rows.npy ends before row 6 of its 6"):
        bank_files.SavedRows(path, 0, 6, 2)[0:6]
    assert torch.equal(bank_files.SavedRows(path, 0, 6, 2)[0:5], torch.zeros(5, 2))
    np.save(path, np.zeros((6, 2), dtype="int64"))
    with pytest.raises(ValueError, match="int64 array, not the C-ordered float16 or float32 rows"):
        bank_files.SavedRows(path, 0, 6, 2)[0:1]
