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


def test_webdataset_shards_on_the_store_are_streamed_like_local_ones(local_s3, store_proxy, downloader_shards,
                                                                     tmp_path, monkeypatch, capsys):
    """`--webdataset 's3://bucket/wds/{00000..00003}.tar'`: the same samples as the local tars (00003 missing:
    one rejection), each tar streamed from the store; connections dropped mid-way are reopened and the
    stream goes on after the samples already read, so none is lost or repeated; a glob lists the store."""
    from mmssl.data.manifest import read_manifest
    from mmssl.data.prepare_cli import main
    from mmssl.data.sources import WebdatasetSource

    monkeypatch.setenv("HOME", str(tmp_path))
    local_s3.upload(downloader_shards, f"{BUCKET}/wds")
    pattern = local_s3.uri(f"{BUCKET}/wds/{{00000..00003}}.tar", endpoint=store_proxy.endpoint)
    local = list(WebdatasetSource(f"{downloader_shards}/{{00000..00003}}.tar").items())
    store_proxy.drop_next(3)  # libcurl may resend a dropped request once itself: some reach the reader
    remote = list(WebdatasetSource(pattern).items())
    assert [(item.data, item.source_fields) for item in remote] == [(item.data, item.source_fields) for item in local]
    assert [item.source for item in remote[:-1]] == [item.source for item in local[:-1]]  # the downloaders' urls
    assert remote[-1].source == f"s3://{BUCKET}/wds/00003.tar" and remote[-1].rejection[1].startswith(
        "shard missing: no such object on the store")
    tar_gets = [r for r in store_proxy.requests if r.line.startswith("GET ") and ".tar" in r.line and r.range]
    assert len({r.line.split()[1] for r in tar_gets}) == 3 and len(tar_gets) > 3  # a dropped stream was reopened

    assert WebdatasetSource(local_s3.uri(f"{BUCKET}/wds/*.tar")).tar_paths() == [
        local_s3.uri(f"{BUCKET}/wds/{shard:05d}.tar") for shard in range(3)]
    with pytest.raises(ValueError, match="matches no files.*none is an object on the store"):
        WebdatasetSource(local_s3.uri(f"{BUCKET}/wds/{{00004..00005}}.tar"))

    assert main(["--webdataset", local_s3.uri(f"{BUCKET}/wds/{{00000..00003}}.tar"), "--output", str(tmp_path / "out"),
                 "--local", "--no-progress"]) == 0
    assert "inputs 6: accepted 5, rejected 1" in capsys.readouterr().out
    assert [row["source_key"] for row in read_manifest(tmp_path / "out").to_pylist()] == [
        "000000000", "000000001", "000010000", "000010001", "000020000"]


def test_yfcc_metadata_and_media_on_the_store(local_s3, tmp_path, monkeypatch):
    """`--yfcc-metadata s3://.../yfcc100m_dataset.bz2 --media-root s3://.../media`: the compressed metadata is
    streamed from the store and each row's photo read from it; a row whose photo is absent is refused as
    missing, and the manifest names the photos by their URIs (without the endpoint options)."""
    import bz2

    from fixtures_ingest import encode_image, quadrant_pixels, yfcc_line
    from mmssl.data.manifest import read_manifest, read_rejected
    from mmssl.data.sources import YfccSource

    monkeypatch.setenv("HOME", str(tmp_path))
    store = local_s3.filesystem()
    rows = [yfcc_line(str(photo_id), "jpg", "0", number=photo_id) for photo_id in (1, 2, 3)]
    with store.open_output_stream(f"{BUCKET}/yfcc/yfcc100m_dataset.bz2", compression=None) as out:
        out.write(bz2.compress(("\n".join(rows) + "\n").encode()))
    for photo_id in (1, 3):  # photo 2 was never downloaded
        with store.open_output_stream(f"{BUCKET}/yfcc/media/{photo_id}.jpg") as out:
            out.write(encode_image(quadrant_pixels(), "JPEG"))
    source = YfccSource(local_s3.uri(f"{BUCKET}/yfcc/yfcc100m_dataset.bz2"), local_s3.uri(f"{BUCKET}/yfcc/media"))
    summary = prepare(source, config(str(tmp_path / "out")))
    assert (summary["accepted"], summary["rejected"]) == (2, 1)
    assert [row["source"] for row in read_manifest(tmp_path / "out").to_pylist()] == [
        f"s3://{BUCKET}/yfcc/media/1.jpg", f"s3://{BUCKET}/yfcc/media/3.jpg"]
    (refused,) = read_rejected(tmp_path / "out").to_pylist()
    assert refused["source"] == f"s3://{BUCKET}/yfcc/media/2.jpg" and "missing" in refused["reason"]
    assert source.spec()["metadata"] == f"s3://{BUCKET}/yfcc/yfcc100m_dataset.bz2"
    with pytest.raises(ValueError, match="--media-root .* is not a directory"):
        YfccSource(local_s3.uri(f"{BUCKET}/yfcc/yfcc100m_dataset.bz2"), local_s3.uri(f"{BUCKET}/nowhere"))
