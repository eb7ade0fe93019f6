"""Webdataset tar shards with DALI index files, written in one pass.

A shard is a plain tar whose members are grouped by key (`0000000042.jpg`, `0000000042.json`, ...),
so any webdataset reader can read it. Beside each `shard-NNNNNN.tar` we write `shard-NNNNNN.idx` in
the format of DALI's `wds2idx` (v1.2): we know every member's offset while writing, so no second
pass over the tar is needed.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

INDEX_VERSION = "v1.2"
SHARD_PREFIX = "shard-"


def shard_name(shard_number: int) -> str:
    """File stem of shard `shard_number` (`shard-000012`)."""
    return f"{SHARD_PREFIX}{shard_number:06d}"


def sample_key(index: int) -> str:
    """The tar key of the sample whose global index is `index` (10 digits: YFCC100M fits)."""
    return f"{index:010d}"


@dataclass
class _OpenShard:
    stem: str
    tar_path: Path
    tar: tarfile.TarFile
    index_lines: list[str] = field(default_factory=list)


class ShardWriter:
    """Writes samples into size-bounded shards; call `close()` (or use `with`) to finish the last one.

    `target_bytes` is a soft bound: a shard is closed after the sample that takes it past the bound,
    so a shard never splits a sample.
    """

    def __init__(self, shards_dir: str | os.PathLike, target_bytes: int = 256 << 20, first_shard: int = 0):
        if target_bytes <= 0:
            raise ValueError(f"target_bytes must be positive, got {target_bytes}")
        self.shards_dir = Path(shards_dir)
        self.shards_dir.mkdir(parents=True, exist_ok=True)
        self.target_bytes = target_bytes
        self.next_shard = first_shard
        self.finished: list[str] = []  # stems of shards closed so far, in order
        self._open: _OpenShard | None = None

    @property
    def current_shard(self) -> str:
        """Stem of the shard the next sample goes to."""
        return self._open.stem if self._open else shard_name(self.next_shard)

    def write(self, key: str, members: dict[str, bytes]) -> str:
        """Append one sample (`members` maps extension, e.g. "jpg", to bytes); returns its shard stem."""
        if not members:
            raise ValueError(f"sample {key!r} has no members")
        if "." in key or "/" in key:
            raise ValueError(f"sample key {key!r} must not contain '.' or '/'")
        shard = self._open or self._start()
        components = []
        for ext, payload in members.items():
            name = f"{key}.{ext}"
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = 0o644
            header_offset = shard.tar.offset
            shard.tar.addfile(info, io.BytesIO(payload))
            data_offset = header_offset + tarfile.BLOCKSIZE  # names < 100 chars: one header block
            components.append(f"{ext} {data_offset} {len(payload)} {name}")
        shard.index_lines.append(" ".join(components))
        stem = shard.stem
        if shard.tar.offset >= self.target_bytes:
            self._finish()
        return stem

    def close(self) -> None:
        """Finish the shard in progress, if any."""
        if self._open is not None:
            self._finish()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> _OpenShard:
        stem = shard_name(self.next_shard)
        self.next_shard += 1
        tar_path = self.shards_dir / f"{stem}.tar.partial"
        self._open = _OpenShard(stem, tar_path, tarfile.open(tar_path, "w", format=tarfile.USTAR_FORMAT))
        return self._open

    def _finish(self) -> None:
        shard, self._open = self._open, None
        shard.tar.close()
        idx_tmp = self.shards_dir / f"{shard.stem}.idx.partial"
        idx_tmp.write_text(f"{INDEX_VERSION} {len(shard.index_lines)}\n" + "\n".join(shard.index_lines) + "\n")
        # rename last: a shard without its .partial suffix is always complete
        os.replace(idx_tmp, self.shards_dir / f"{shard.stem}.idx")
        os.replace(shard.tar_path, self.shards_dir / f"{shard.stem}.tar")
        self.finished.append(shard.stem)


def list_shards(shards_dir: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Complete shards in `shards_dir` as sorted (tar, idx) pairs; raises if an index is missing."""
    shards_dir = Path(shards_dir)
    pairs = []
    for tar_path in sorted(shards_dir.glob(f"{SHARD_PREFIX}*.tar")):
        idx_path = tar_path.with_suffix(".idx")
        if not idx_path.exists():
            raise FileNotFoundError(
                f"{tar_path} has no index file {idx_path.name}; rebuild it with `wds2idx {tar_path} {idx_path}`"
            )
        pairs.append((tar_path, idx_path))
    return pairs


def read_index_entries(idx_path: str | os.PathLike) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    """Parse a DALI v1.2 index: per sample, (key, {ext: (data_offset, size)})."""
    return parse_index_entries(Path(idx_path).read_text(), str(idx_path))


def parse_index_entries(text: str, name: str) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    """`read_index_entries` of an index file's text (`name` says where it came from, for errors)."""
    lines = text.splitlines()
    version, count = lines[0].split()
    if version != INDEX_VERSION:
        raise ValueError(f"{name}: index version {version}, expected {INDEX_VERSION}")
    samples = []
    for line in lines[1 : 1 + int(count)]:
        parts = line.split()
        members = {parts[i]: (int(parts[i + 1]), int(parts[i + 2])) for i in range(0, len(parts), 4)}
        samples.append((parts[3].split(".", 1)[0], members))
    return samples


def read_index(idx_path: str | os.PathLike) -> list[dict[str, tuple[int, int]]]:
    """Parse a DALI v1.2 index: per sample, {ext: (data_offset, size)}."""
    return [members for _, members in read_index_entries(idx_path)]
