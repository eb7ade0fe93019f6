"""Resume state: fresh start, refusals, roll-back of an interrupted tail, finalize from parts."""

import json

import pyarrow.parquet as pq
import pytest

from mmssl.data.prepare_journal import Journal, PrepareRefused

SPEC = {"input": {"type": "folder", "root": "/media"}}
ROW = {"modality": "image", "source": "a.jpg", "width": 4, "height": 3, "index": 0, "key": "0000000000",
       "shard": "shard-000000", "bytes": 10}


def test_resume_rolls_back_to_the_last_checkpoint(tmp_path):
    journal = Journal.open(tmp_path, SPEC)
    shards = tmp_path / "shards"
    shards.mkdir()
    for name in ("shard-000000.tar", "shard-000000.idx", "shard-000001.tar", "shard-000001.idx", "shard-000002.tar.partial"):
        (shards / name).write_bytes(b"x")
    journal.checkpoint(cursor=7, next_index=1, next_shard=1, manifest_rows=[ROW],
                       rejected_rows=[{"source": "b", "stage": "read", "reason": "file missing"}], elapsed_s=2.5)
    (tmp_path / ".prepare" / "parts" / "part-000001.manifest.parquet").write_bytes(b"unjournaled")
    journal.close()  # as if the process had died here

    resumed = Journal.open(tmp_path, SPEC)
    assert (resumed.state.cursor, resumed.state.next_index, resumed.state.next_shard) == (7, 1, 1)
    assert resumed.state.elapsed_s == 2.5
    assert sorted(p.name for p in shards.iterdir()) == ["shard-000000.idx", "shard-000000.tar"]
    assert sorted(p.name for p in (tmp_path / ".prepare" / "parts").iterdir()) == [
        "part-000000.manifest.parquet", "part-000000.rejected.parquet"]


def test_finalize_writes_tables_and_marks_complete(tmp_path):
    journal = Journal.open(tmp_path, SPEC)
    journal.checkpoint(1, 1, 1, [ROW], [], 1.0)
    journal.checkpoint(2, 2, 2, [dict(ROW, index=1, key="0000000001", source="c.jpg")],
                       [{"source": "d", "stage": "probe", "reason": "no video stream"}], 2.0)
    parts = []
    journal.finalize(lambda m, r: parts.append((m.num_rows, r.num_rows)))
    manifest = pq.read_table(tmp_path / "manifest.parquet")
    assert manifest.column("index").to_pylist() == [0, 1]
    assert manifest.column("source").to_pylist() == ["a.jpg", "c.jpg"]
    assert pq.read_table(tmp_path / "rejected.parquet").column("reason").to_pylist() == ["no video stream"]
    assert parts == [(1, 0), (1, 1)]
    assert json.loads((tmp_path / ".prepare" / "journal.json").read_text())["complete"] is True
    journal.close()
    with pytest.raises(PrepareRefused, match="already a complete dataset"):
        Journal.open(tmp_path, SPEC)


def test_different_input_is_refused(tmp_path):
    Journal.open(tmp_path, SPEC).close()
    with pytest.raises(PrepareRefused, match="different input or settings"):
        Journal.open(tmp_path, {"input": {"type": "folder", "root": "/elsewhere"}})


def test_dataset_without_journal_is_refused_then_overwritten(tmp_path):
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "shard-000000.tar").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(PrepareRefused, match="no preparation journal"):
        Journal.open(tmp_path, SPEC)
    journal = Journal.open(tmp_path, SPEC, overwrite=True)
    assert journal.state.cursor == 0 and not (tmp_path / "shards").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only preparation's own files are removed


def test_unreadable_journal_is_refused(tmp_path):
    Journal.open(tmp_path, SPEC).close()
    (tmp_path / ".prepare" / "journal.json").write_text('{"spec": {}, "surprise": 1}')
    with pytest.raises(PrepareRefused, match="unreadable.*--overwrite"):
        Journal.open(tmp_path, SPEC)


def test_second_run_on_the_same_directory_is_refused_until_the_first_ends(tmp_path):
    first = Journal.open(tmp_path, SPEC)
    with pytest.raises(PrepareRefused, match="another preparation is running"):
        Journal.open(tmp_path, SPEC)
    first.close()
    Journal.open(tmp_path, SPEC).close()
