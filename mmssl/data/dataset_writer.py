"""Writes accepted samples into shards with dense global indices, plus the manifest and rejections.

The one place that decides a sample's `index`, `key` and shard, so preparation, tests and tools all
produce the same layout:
    DIR/shards/shard-NNNNNN.{tar,idx}   DIR/manifest.parquet   DIR/rejected.parquet
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mmssl.data.manifest import (
    INDEX_MEMBER,
    MANIFEST_FILE,
    REJECTED_FILE,
    SHARDS_DIR,
    manifest_table,
    rejected_table,
)
from mmssl.data.shards import ShardWriter, sample_key


class DatasetWriter:
    """Accepts samples in order; `index` is assigned densely from `first_index`.

    `add` takes the media members (e.g. {"jpg": bytes} or {"mp4": ..., "flac": ...}) and the
    manifest fields known about the sample; the writer adds `index`, `key`, `shard`, `bytes` and the
    `json` and `index` members. `reject` records a refused input. `close` writes the parquet files.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        shard_bytes: int = 256 << 20,
        first_index: int = 0,
        first_shard: int = 0,
        manifest_rows: list[dict] | None = None,
        rejected_rows: list[dict] | None = None,
    ):
        self.out_dir = Path(out_dir)
        self.shards = ShardWriter(self.out_dir / SHARDS_DIR, shard_bytes, first_shard=first_shard)
        self.next_index = first_index
        self.manifest_rows: list[dict] = list(manifest_rows or [])
        self.rejected_rows: list[dict] = list(rejected_rows or [])

    def add(self, members: dict[str, bytes], fields: dict) -> int:
        """Write one accepted sample; returns its global index."""
        index = self.next_index
        key = sample_key(index)
        metadata = {k: v for k, v in fields.items() if v is not None}
        metadata["index"] = index
        stored = dict(members)
        stored["json"] = json.dumps(metadata, sort_keys=True).encode()
        stored[INDEX_MEMBER] = np.int64(index).astype("<i8").tobytes()
        shard = self.shards.write(key, stored)
        row = dict(fields, index=index, key=key, shard=shard, bytes=sum(len(b) for b in stored.values()))
        self.manifest_rows.append(row)
        self.next_index += 1
        return index

    def reject(self, source: str, stage: str, reason: str) -> None:
        self.rejected_rows.append({"source": source, "stage": stage, "reason": reason})

    def close(self) -> None:
        """Finish the last shard and write manifest.parquet and rejected.parquet atomically."""
        self.shards.close()
        for name, table in (
            (MANIFEST_FILE, manifest_table(self.manifest_rows)),
            (REJECTED_FILE, rejected_table(self.rejected_rows)),
        ):
            tmp = self.out_dir / f"{name}.partial"
            pq.write_table(table, tmp)
            os.replace(tmp, self.out_dir / name)

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
