"""Where every sample's members lie in the shards: memory-mapped arrays, the loader's table of contents.

The loader reads members by (tar, offset, size), so it needs no tar reader and can fetch any sample
of a 100M-sample dataset in O(1). The table sits beside the manifest, in `members/`:
    shards.json      the shard stems, in shard-number order
    shard.npy        int32 [N]: shard number of the sample whose manifest index is i
    <ext>.npy        int64 [N, 2]: (data offset, size) of member <ext> (jpg, mp4, flac); -1 if absent
    eligible-*.npy   int64: manifest indices of the samples that have a set of members (cached)
shards.json also holds the dataset's fingerprint: a hash of the shard names and of every sample's
shard and member offsets and sizes. Loader checkpoints record it, so a checkpoint is never restored
on another dataset (or one prepared again); damage to bytes inside a member does not change it.
Every array is indexed by the manifest's dense `index`, and opened with mmap, so worker processes
share the pages. Preparation writes the table; for a dataset prepared before it existed, the
loader builds it from the shards' .idx files on first use (in a cache directory if the dataset's
directory is read-only).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmssl.data.manifest import SHARDS_DIR
from mmssl.data.shards import list_shards, read_index_entries
from mmssl.data.store import is_uri

MEMBERS_DIR = "members"
TABLE_EXTS = ("jpg", "mp4", "flac")
SHARDS_FILE = "shards.json"
CACHE_ROOT = Path("~/.cache/mmssl/members")
STANDARD_MEMBER_SETS = (("jpg",), ("mp4",), ("flac", "mp4"), ("flac",))  # images; videos; videos with audio; all sound


def _shard_stems(data_dir: Path) -> list[str]:
    shards_dir = data_dir / SHARDS_DIR
    pairs = list_shards(shards_dir) if shards_dir.is_dir() else []
    if not pairs:
        raise FileNotFoundError(
            f"no shards found in {shards_dir}: {data_dir} is not a prepared dataset; "
            f"run `python tools/prepare_data.py --input MEDIA_DIR --output {data_dir}` first"
        )
    return [tar.stem for tar, _ in pairs]


def sample_locations(entries: list[tuple[str, dict[str, tuple[int, int]]]],
                     name: str) -> list[tuple[int, dict[str, tuple[int, int]]]]:
    """(manifest index, {ext: (offset, size)}) per sample of one shard's parsed index file `name`."""
    samples = []
    for key, members in entries:
        if not key.isdigit():
            raise ValueError(f"{name}: sample key {key!r} is not a manifest index; re-prepare the dataset")
        samples.append((int(key), members))
    return samples


def build_member_table(data_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write the table of `data_dir`'s shards into `out_dir` (atomically: shards.json comes last)."""
    data_dir = Path(data_dir)
    stems = _shard_stems(data_dir)
    per_shard = [sample_locations(read_index_entries(path), str(path))
                 for path in (data_dir / SHARDS_DIR / f"{stem}.idx" for stem in stems)]
    return write_member_table(stems, per_shard, out_dir, str(data_dir))


def write_member_table(stems: list[str], per_shard: list[list[tuple[int, dict[str, tuple[int, int]]]]],
                       out_dir: str | os.PathLike, where: str) -> Path:
    """Write the table of shards `stems` (their samples' locations, `per_shard`) into `out_dir`."""
    out_dir = Path(out_dir)
    num_samples = sum(len(samples) for samples in per_shard)
    shard = np.full(num_samples, -1, np.int32)
    members = {ext: np.full((num_samples, 2), -1, np.int64) for ext in TABLE_EXTS}
    for number, samples in enumerate(per_shard):
        for index, found in samples:
            if not 0 <= index < num_samples or shard[index] != -1:
                raise ValueError(f"{where}: sample index {index} is out of range or appears twice in the shards; "
                                 "the shards do not match a dense manifest: re-prepare the dataset")
            shard[index] = number
            for ext, location in found.items():
                if ext in members:
                    members[ext][index] = location
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, array in [("shard", shard), *members.items()]:
        _save_atomic(out_dir / f"{name}.npy", array)
    for stale in out_dir.glob("eligible-*.npy"):
        stale.unlink()
    for exts in STANDARD_MEMBER_SETS:
        _save_atomic(_eligible_file(out_dir, exts), _having(members, exts))
    tmp = out_dir / f"{SHARDS_FILE}.partial"
    fingerprint = dataset_fingerprint(stems, [shard, *members.values()])
    tmp.write_text(json.dumps({"shards": stems, "num_samples": num_samples, "fingerprint": fingerprint}))
    os.replace(tmp, out_dir / SHARDS_FILE)
    return out_dir


def dataset_fingerprint(stems: list[str], arrays: list[np.ndarray]) -> str:
    """16 hex digits identifying a dataset's layout: shard names, then each table array's bytes in order."""
    digest = hashlib.sha256(json.dumps(stems).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()[:16]


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def _eligible_file(table_dir: Path, exts: tuple[str, ...]) -> Path:
    return table_dir / f"eligible-{'+'.join(sorted(exts))}.npy"


def _having(members: dict[str, np.ndarray], exts: tuple[str, ...]) -> np.ndarray:
    """Sorted manifest indices of the samples that have every member in `exts`."""
    having = np.ones(len(next(iter(members.values()))), bool)
    for ext in exts:
        having &= members[ext][:, 1] >= 0
    return np.flatnonzero(having).astype(np.int64)


def _is_current(table_dir: Path, stems: list[str]) -> bool:
    listing = table_dir / SHARDS_FILE
    return listing.exists() and json.loads(listing.read_text())["shards"] == stems


def member_table_dir(data_dir: str | os.PathLike) -> Path:
    """The directory of `data_dir`'s member table, built (or rebuilt, if the shards changed) when needed."""
    data_dir = Path(data_dir)
    stems = _shard_stems(data_dir)
    beside = data_dir / MEMBERS_DIR
    cached = CACHE_ROOT.expanduser() / hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:16]
    for candidate in (beside, cached):
        if _is_current(candidate, stems):
            return candidate
    try:
        return build_member_table(data_dir, beside)
    except PermissionError:  # a read-only dataset: keep the table in the user's cache
        return build_member_table(data_dir, cached)


@dataclass(frozen=True)
class MemberTable:
    """The opened table: shard paths and, per manifest index, its shard and member locations."""

    table_dir: Path
    tar_paths: tuple[str, ...]  # local paths, or paths on the dataset's store filesystem
    num_samples: int
    fingerprint: str  # see dataset_fingerprint
    location: str = ""  # the dataset as given: a directory or a store URI (see mmssl.data.store)

    @classmethod
    def open(cls, data_dir: str | os.PathLike) -> "MemberTable":
        """The table of a prepared dataset in a local directory or on a store (`s3://bucket/prefix`)."""
        if is_uri(data_dir):
            from mmssl.data.store_table import store_member_table

            table_dir, shards_root = store_member_table(str(data_dir))
        else:
            table_dir, shards_root = member_table_dir(data_dir), str(Path(data_dir).resolve() / SHARDS_DIR)
        listing = json.loads((table_dir / SHARDS_FILE).read_text())
        tars = tuple(f"{shards_root}/{stem}.tar" for stem in listing["shards"])
        fingerprint = listing.get("fingerprint")  # tables written before fingerprints: hashed now
        if fingerprint is None:
            arrays = [np.load(table_dir / f"{name}.npy", mmap_mode="r") for name in ("shard", *TABLE_EXTS)]
            fingerprint = dataset_fingerprint(listing["shards"], arrays)
        return cls(table_dir, tars, int(listing["num_samples"]), fingerprint, str(data_dir))

    def shard_numbers(self) -> np.ndarray:
        return np.load(self.table_dir / "shard.npy", mmap_mode="r")

    def locations(self, ext: str) -> np.ndarray:
        """[N, 2] (offset, size) of member `ext`; -1 where a sample has none."""
        if ext not in TABLE_EXTS:
            raise ValueError(f"no table for member {ext!r}; tables exist for {TABLE_EXTS}")
        return np.load(self.table_dir / f"{ext}.npy", mmap_mode="r")

    def eligible_path(self, exts: tuple[str, ...]) -> Path:
        """File of the sorted manifest indices of samples having every member in `exts` (cached)."""
        path = _eligible_file(self.table_dir, exts)
        if not path.exists():
            _save_atomic(path, _having({ext: self.locations(ext) for ext in exts}, exts))
        return path

    def eligible_count(self, exts: tuple[str, ...]) -> int:
        return len(np.load(self.eligible_path(exts), mmap_mode="r"))

    def describe_counts(self) -> str:
        """What the dataset holds, by member set: `500 samples: 480 jpg, 20 mp4, 12 flac+mp4, 15 flac`."""
        counts = ", ".join(f"{self.eligible_count(exts)} {'+'.join(sorted(exts))}" for exts in STANDARD_MEMBER_SETS)
        return f"{self.num_samples} samples: {counts}"
