"""Shard writer: the index we write is DALI's wds2idx format, and samples never split across shards."""

import os
import subprocess
import tarfile

import numpy as np

from mmssl.data.dataset_writer import DatasetWriter
from mmssl.data.manifest import read_manifest
from mmssl.data.shards import ShardWriter, list_shards, read_index


def test_index_matches_wds2idx(tmp_path):
    with ShardWriter(tmp_path, target_bytes=3000) as writer:
        for i in range(7):
            writer.write(f"{i:010d}", {"jpg": os.urandom(1000 + i), "json": b"{}"})
    assert len(writer.finished) > 1
    for tar_path, idx_path in list_shards(tmp_path):
        reference = tmp_path / "reference.idx"
        subprocess.run(["wds2idx", str(tar_path), str(reference)], check=True, capture_output=True)
        assert idx_path.read_text() == reference.read_text()


def test_members_at_indexed_offsets(tmp_path):
    payloads = {f"{i:010d}": os.urandom(700 + 13 * i) for i in range(5)}
    with ShardWriter(tmp_path, target_bytes=1500) as writer:
        for key, payload in payloads.items():
            writer.write(key, {"jpg": payload, "txt": key.encode()})
    seen = {}
    for tar_path, idx_path in list_shards(tmp_path):
        raw = tar_path.read_bytes()
        names = tarfile.open(tar_path).getnames()
        for sample in read_index(idx_path):
            offset, size = sample["txt"]
            key = raw[offset : offset + size].decode()
            assert f"{key}.jpg" in names and f"{key}.txt" in names  # both members in the same shard
            offset, size = sample["jpg"]
            seen[key] = raw[offset : offset + size]
    assert seen == payloads


def test_dataset_writer_dense_index(tmp_path):
    with DatasetWriter(tmp_path, shard_bytes=2000) as writer:
        for i in range(9):
            writer.add({"jpg": os.urandom(900)}, {"modality": "image", "source": f"s{i}", "width": 1, "height": 1})
        writer.reject("bad.jpg", "decode", "truncated JPEG")
    manifest = read_manifest(tmp_path).to_pylist()
    assert [row["index"] for row in manifest] == list(range(9))
    for tar_path, idx_path in list_shards(tmp_path / "shards"):
        raw = tar_path.read_bytes()
        for sample in read_index(idx_path):
            offset, size = sample["index"]
            index = int(np.frombuffer(raw[offset : offset + size], "<i8")[0])
            assert manifest[index]["shard"] == tar_path.stem
