"""The member table of a dataset on an object store, copied into a local cache to be memory-mapped.

The table (members/, about 52 bytes a sample: 5 GB for YFCC100M) is what lets a rank fetch any
sample's members with one range request each, so it must be local: every reader process maps it.
It is copied once per machine to ~/.cache/mmssl/stores/<hash of the URI>/members, and copied again
only when the store's shards.json (listing and fingerprint) differs from the copy's. A dataset
prepared before the table existed has none on the store: its shards' index files are read instead
and the table built in the cache. The shards themselves are never copied.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mmssl.data.manifest import SHARDS_DIR
from mmssl.data.member_table import MEMBERS_DIR, SHARDS_FILE, sample_locations, write_member_table
from mmssl.data.shards import SHARD_PREFIX, parse_index_entries
from mmssl.data.store import StoreLocation, check_access, open_location

STORE_CACHE_ROOT = Path("~/.cache/mmssl/stores")


def store_cache_dir(uri: str) -> Path:
    """This machine's cache for the dataset at `uri` (its member table; members, when cached, elsewhere)."""
    return STORE_CACHE_ROOT.expanduser() / hashlib.sha1(uri.encode()).hexdigest()[:16]


def store_member_table(uri: str) -> tuple[Path, str]:
    """(local table directory, the shards' directory on the store's filesystem) of the dataset at `uri`.

    Fails at once with StoreAccessError (missing bucket, refused credentials), FileNotFoundError when
    the URI holds no prepared dataset."""
    location = open_location(uri)
    check_access(location)
    table_dir = store_cache_dir(uri) / MEMBERS_DIR
    if location.exists(MEMBERS_DIR, SHARDS_FILE):
        listing = location.read_bytes(MEMBERS_DIR, SHARDS_FILE)
        copy = table_dir / SHARDS_FILE
        if not (copy.exists() and copy.read_bytes() == listing):
            _copy_table(location, table_dir, listing)
    else:
        build_table_from_store_index(location, table_dir)
    return table_dir, location.path(SHARDS_DIR)


def _copy_table(location: StoreLocation, table_dir: Path, listing: bytes) -> None:
    """Each table file written atomically, shards.json last: a copy cut short is never taken as current."""
    table_dir.mkdir(parents=True, exist_ok=True)
    for name in location.list_files(MEMBERS_DIR):
        if name.endswith(".npy"):
            _write_atomic(table_dir / name, location.read_bytes(MEMBERS_DIR, name))
    _write_atomic(table_dir / SHARDS_FILE, listing)


def build_table_from_store_index(location: StoreLocation, table_dir: Path) -> Path:
    """The member table of the dataset at `location`, built into `table_dir` from the store's .idx files."""
    files = set(location.list_files(SHARDS_DIR))
    stems = sorted(name[:-len(".tar")] for name in files if name.startswith(SHARD_PREFIX) and name.endswith(".tar"))
    if not stems:
        raise FileNotFoundError(
            f"no shards found in {location.describe(SHARDS_DIR)}: {location.describe()} is not a prepared dataset; "
            "prepare one with `python tools/prepare_data.py --input MEDIA_DIR --output DIR` and copy DIR there")
    missing = [f"{stem}.idx" for stem in stems if f"{stem}.idx" not in files]
    if missing:
        raise FileNotFoundError(f"{location.describe(SHARDS_DIR)} lacks index files {missing[:3]}: re-upload the "
                                "prepared dataset with its .idx files")
    copy = table_dir / SHARDS_FILE
    if copy.exists() and json.loads(copy.read_text())["shards"] == stems:
        return table_dir  # built earlier from the same shards
    per_shard = []
    for stem in stems:
        where = location.describe(SHARDS_DIR, f"{stem}.idx")
        per_shard.append(sample_locations(parse_index_entries(location.read_bytes(SHARDS_DIR, f"{stem}.idx").decode(),
                                                              where), where))
    return write_member_table(stems, per_shard, table_dir, location.describe())


def _write_atomic(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
    tmp.write_bytes(payload)
    os.replace(tmp, path)
