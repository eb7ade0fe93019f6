"""The manifest (one row per accepted sample) and the rejection list, as pyarrow tables.

`index` is dense 0..N-1 and is the sample's memory-bank row; it is also stored in the shard as the
`index` member (8-byte little-endian int64) so a DALI reader outputs it with no lookup.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mmssl.data.store import RetryPolicy, check_access, open_location, with_retries

MANIFEST_FILE = "manifest.parquet"
REJECTED_FILE = "rejected.parquet"
SHARDS_DIR = "shards"

MANIFEST_SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("key", pa.string()),
        ("shard", pa.string()),  # shard stem, e.g. "shard-000003" (files: shards/<stem>.tar / .idx)
        ("modality", pa.string()),  # "image", "video" or "audio" (a sound file: flac member only)
        ("source", pa.string()),  # input path or URL, as given
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("bytes", pa.int64()),  # stored size of all the sample's members
        ("duration_s", pa.float64()),  # videos and sounds (null for images)
        ("fps", pa.float64()),
        ("num_frames", pa.int32()),
        ("has_audio", pa.bool_()),
        ("audio_sample_rate_hz", pa.int32()),
        # webdataset inputs (img2dataset / video2dataset), null otherwise: see downloader_metadata.py
        ("caption", pa.string()),  # the sample's .txt member
        ("source_key", pa.string()),  # the key the downloader gave it (its json's "key", else the tar key)
        ("source_width", pa.int32()),  # its json's "width" / "height": the file as downloaded
        ("source_height", pa.int32()),
        ("source_json", pa.string()),  # its .json member, verbatim
    ]
)

REJECTED_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("stage", pa.string()),  # "enumerate", "read", "probe", "decode", "normalize", ...
        ("reason", pa.string()),  # human-readable, e.g. "truncated JPEG"
    ]
)

INDEX_MEMBER = "index"  # shard member holding the sample's global index as int64 LE


def manifest_table(rows: list[dict]) -> pa.Table:
    """Rows (dicts with MANIFEST_SCHEMA's names; missing optional fields become null) to a table."""
    return pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)


def rejected_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=REJECTED_SCHEMA)


def read_manifest(data_dir: str | os.PathLike, columns: list[str] | None = None) -> pa.Table:
    """The manifest of a prepared dataset, in a directory or on a store (`s3://bucket/prefix`); a clear
    error when `data_dir` is not one (StoreAccessError when the store refuses us or has no such bucket)."""
    location = open_location(data_dir)
    check_access(location)
    if not location.exists(MANIFEST_FILE):
        raise FileNotFoundError(
            f"{location.describe(MANIFEST_FILE)} not found: {data_dir} is not a prepared dataset; "
            f"run `python tools/prepare_data.py --input MEDIA_DIR --output {data_dir}` first"
        )
    return with_retries(lambda: pq.read_table(location.path(MANIFEST_FILE), columns=columns,
                                              filesystem=location.filesystem), RetryPolicy())


def read_rejected(data_dir: str | os.PathLike) -> pa.Table:
    path = Path(data_dir) / REJECTED_FILE
    return pq.read_table(path) if path.exists() else rejected_table([])
