"""A bounded local disk cache of members read from an object store (optional; off by default).

One file per member, named by shard and byte range, under a directory per dataset fingerprint, so a
cache never serves bytes of another dataset (or of the same URI prepared again). Every process of a
node (ranks, DALI source workers) may share the directory: files are written atomically, and each
process trims the directory to `max_bytes` (oldest first by last use) after writing an eighth of it.
So the cache may overshoot by about an eighth per writing process between trims, never more.
"""

from __future__ import annotations

import os
from pathlib import Path

TRIM_TO = 0.9  # a trim leaves the cache at this fraction of its bound, so the next trim is not at once


class MemberCache:
    def __init__(self, directory: str | os.PathLike, max_bytes: int):
        if max_bytes <= 0:
            raise ValueError(f"cache bound must be > 0 bytes, got {max_bytes}")
        self.directory, self.max_bytes = Path(directory).expanduser(), max_bytes
        self._written_since_trim = 0

    def _file(self, shard: int, offset: int, size: int) -> Path:
        return self.directory / f"{shard:06d}-{offset}-{size}"

    def get(self, shard: int, offset: int, size: int) -> bytes | None:
        path = self._file(shard, offset, size)
        try:
            payload = path.read_bytes()
            os.utime(path)  # last use, for the trim's order
        except FileNotFoundError:  # never cached, or trimmed by another process meanwhile
            return None
        return payload if len(payload) == size else None

    def put(self, shard: int, offset: int, size: int, payload: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._file(shard, offset, size)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
        self._written_since_trim += len(payload)
        if self._written_since_trim > self.max_bytes // 8:
            self.trim()

    def size_bytes(self) -> int:
        return sum(entry.stat().st_size for entry in os.scandir(self.directory) if entry.is_file())

    def trim(self) -> None:
        """Delete the least recently used members until the cache holds at most TRIM_TO of its bound."""
        self._written_since_trim = 0
        entries = []
        for entry in os.scandir(self.directory):
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            if not entry.name.endswith(".partial"):
                entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(entries):
            if total <= self.max_bytes * TRIM_TO:
                break
            try:
                os.unlink(path)
            except FileNotFoundError:  # another process trimmed it first
                pass
            total -= size
