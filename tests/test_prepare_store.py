"""Preparation from and into a store: --input s3://media reads the objects, --output s3://data stages locally
and pushes at every journaled shard; an interrupted run resumes from the store, dropping what it wrote after
its last journaled point; the result is the dataset a local preparation of the same files makes."""

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from fixtures_store import BUCKET
from mmssl.data.member_table import MemberTable
from mmssl.data.prepare import PrepareConfig, prepare
from mmssl.data.prepare_journal import PrepareRefused
from mmssl.data.prepare_store import StoreOutput
from mmssl.data.shard_reader import open_shard_reader
from mmssl.data.sources import FolderSource, StoreFolderSource

SHARD_BYTES = 16_000


def config(output: str, **overrides) -> PrepareConfig:
    return PrepareConfig(output_dir=output, local=True, progress=False, shard_bytes=SHARD_BYTES, **overrides)


def members_by_index(table: MemberTable) -> dict[tuple[int, str], bytes]:
    reader, shards = open_shard_reader(table), table.shard_numbers()
    found = {}
    for ext in ("jpg", "mp4", "flac"):
        locations = table.locations(ext)
        for index in range(table.num_samples):
            if locations[index, 1] >= 0:
                found[index, ext] = reader.read(int(shards[index]), *(int(v) for v in locations[index]))
    return found


def test_prepare_from_and_into_the_store_resumes_and_matches_local(local_s3, mixed_media_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the staging copy goes under ~/.cache
    root, _ = mixed_media_dir
    local_s3.upload(root, f"{BUCKET}/media")
    media, output = local_s3.uri(f"{BUCKET}/media"), local_s3.uri(f"{BUCKET}/prepared")
    store = local_s3.filesystem()

    first = prepare(StoreFolderSource(media), config(output, stop_after_shards=1))
    assert first["complete"] is False and first["shards_finished"] == 1
    assert store.get_file_info(f"{BUCKET}/prepared/shards/shard-000000.tar").type == pafs.FileType.File
    assert store.get_file_info(f"{BUCKET}/prepared/manifest.parquet").type == pafs.FileType.NotFound
    with store.open_output_stream(f"{BUCKET}/prepared/shards/shard-000007.tar") as out:
        out.write(b"left by a run killed after its last journaled shard")

    summary = prepare(StoreFolderSource(media), config(output))
    local = tmp_path / "local"
    expected = prepare(FolderSource(str(root)), config(str(local)))
    assert {k: summary[k] for k in ("accepted", "rejected", "rejected_by_reason")} == \
        {k: expected[k] for k in ("accepted", "rejected", "rejected_by_reason")}
    names = sorted(info.base_name for info in store.get_file_info(pafs.FileSelector(f"{BUCKET}/prepared/shards")))
    assert names == sorted(path.name for path in (local / "shards").iterdir())  # the stray shard-000007 is gone

    remote_table, local_table = MemberTable.open(output), MemberTable.open(local)
    assert remote_table.fingerprint == local_table.fingerprint
    assert members_by_index(remote_table) == members_by_index(local_table)
    with store.open_input_file(f"{BUCKET}/prepared/manifest.parquet") as stored:
        manifest = pq.read_table(stored)
    # the same rows but where each input came from (and `bytes`, which counts the sample's json member naming it)
    assert manifest.drop(["source", "bytes"]).equals(pq.read_table(local / "manifest.parquet").drop(["source", "bytes"]))
    assert all(source.startswith(f"s3://{BUCKET}/media/") for source in manifest["source"].to_pylist())
    staging = StoreOutput(output).staging
    assert not list(staging.glob("shards/*.tar"))  # pushed, then dropped locally

    with pytest.raises(PrepareRefused, match="already a complete dataset"):
        prepare(StoreFolderSource(media), config(output))
