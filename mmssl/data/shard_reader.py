"""Member bytes by (shard, offset, size): one `pread` on local disk, one range GET on an object store.

The sample source asks for the members of the sample in hand, and tells the reader which members it
will ask for next (`prefetch`). On local disk a prefetch does nothing: a `pread` from the page cache
takes microseconds. On a store each request costs a round trip (about 2 ms on loopback, 10-50 ms to
a cloud store), so `StoreShards` keeps up to `requests_in_flight` range requests running in threads
(pyarrow releases the GIL while it waits) and hands the bytes over when they are asked for.

A request that fails transiently (timeout, 5xx, dropped connection) is retried with backoff
(`store.RetryPolicy`); one that still fails, or names a missing object, raises `MemberUnreadable`,
which the source treats like any bad sample: skipped, counted, logged. A refusal (credentials,
permissions) raises `StoreAccessError`: the run stops, naming the URI and the fix.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from mmssl.data.member_cache import MemberCache
from mmssl.data.store import (
    CREDENTIALS_FIX,
    RetryPolicy,
    StoreAccessError,
    StoreLocation,
    is_access_error,
    with_retries,
)

MAX_OPEN_SHARDS = 32  # file descriptors (or store file handles) kept open per process
DEFAULT_REQUESTS_IN_FLIGHT = 32  # per process reading members; hides ~30 ms of latency at ~1,000 members/s
Range = tuple[int, int, int]  # (shard number, offset, size)


class MemberUnreadable(Exception):
    """A member could not be read (after retries): the sample is skipped like one that fails to decode."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StoreOptions:
    """How members are fetched from an object store (ignored on local disk).

    `requests_in_flight`: range requests kept running per reading process (the default hides about
    30 ms of latency at 1,000 members/s: in flight >= rate x latency). `cache_dir` + `cache_bytes`:
    a bounded local cache of members read (off when either is unset). `record_requests`: keep every
    range requested, for tests that check a rank reads only its own samples."""

    requests_in_flight: int = DEFAULT_REQUESTS_IN_FLIGHT
    cache_dir: str | None = None
    cache_bytes: int = 0
    retry: RetryPolicy = RetryPolicy()
    record_requests: bool = False

    def __post_init__(self) -> None:
        if self.requests_in_flight < 1 or self.cache_bytes < 0:
            raise ValueError(f"store options: requests_in_flight ({self.requests_in_flight}) must be >= 1 and "
                             f"cache_bytes ({self.cache_bytes}) >= 0")


@dataclass
class ReadStats:
    """What this process asked of the store: for benchmarks (requests/s, bytes/s) and tests."""

    requests: int = 0  # range requests sent (retries included)
    opens: int = 0  # shard files opened (one metadata request each on S3)
    bytes: int = 0  # member bytes received
    retries: int = 0
    failures: int = 0  # members given up on (the sample was skipped)
    cache_hits: int = 0
    not_prefetched: int = 0  # members read with no prefetch of them running: each waited a whole round trip
    in_flight: int = 0
    max_in_flight: int = 0
    requested: list[Range] = field(default_factory=list)  # with StoreOptions.record_requests


class LocalShards:
    """Members from shards on local (or shared) disk: `pread` on file descriptors kept open, LRU."""

    prefetches = False

    def __init__(self, tar_paths: tuple[str, ...]):
        self.tar_paths = tar_paths
        self._files: OrderedDict[int, int] = OrderedDict()

    def __getstate__(self) -> dict:  # each process opens its own descriptors
        return dict(self.__dict__, _files=OrderedDict())

    def __del__(self) -> None:
        for fd in self._files.values():
            os.close(fd)

    def read(self, shard: int, offset: int, size: int) -> bytes:
        return os.pread(self._fd(shard), size, offset)

    def prefetch(self, ranges: Iterable[Range]) -> None:
        pass

    def _fd(self, shard: int) -> int:
        if shard in self._files:
            self._files.move_to_end(shard)
            return self._files[shard]
        if len(self._files) >= MAX_OPEN_SHARDS:
            os.close(self._files.popitem(last=False)[1])
        self._files[shard] = os.open(self.tar_paths[shard], os.O_RDONLY)
        return self._files[shard]


class StoreShards:
    """Members from shards on an object store: range reads in a thread pool, fetched ahead when told."""

    prefetches = True

    def __init__(self, location: StoreLocation, tar_paths: tuple[str, ...], options: StoreOptions,
                 cache_key: str):
        self.location, self.tar_paths, self.options = location, tar_paths, options
        self.cache = (MemberCache(Path(options.cache_dir) / cache_key, options.cache_bytes)
                      if options.cache_dir and options.cache_bytes else None)
        self.stats = ReadStats()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: OrderedDict[Range, list] = OrderedDict()  # prefetched, not yet read: [future, reads left]
        self._handles: OrderedDict[int, Future] = OrderedDict()  # open shard files (or being opened)

    def __getstate__(self) -> dict:  # a worker process starts its own pool, handles and counts
        return dict(self.__dict__, stats=ReadStats(), _lock=None, _pool=None, _pending=OrderedDict(),
                    _handles=OrderedDict())

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def __del__(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def read(self, shard: int, offset: int, size: int) -> bytes:
        """The member's bytes: from a prefetch when there is one, else fetched now."""
        key = (shard, offset, size)
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None:
                pending[1] -= 1
                if pending[1] == 0:
                    del self._pending[key]
            self.stats.not_prefetched += pending is None
        return pending[0].result() if pending is not None else self._fetch(key)

    def prefetch(self, ranges: Iterable[Range]) -> None:
        """Start fetching `ranges`; bytes wait in memory until `read` takes them, as many times as they were
        named (a member may be one slot's own and another's easy negative): fetched once all the same."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.options.requests_in_flight, thread_name_prefix="mmssl-store")
            for key in ranges:
                if key in self._pending:
                    self._pending[key][1] += 1
                else:
                    self._pending[key] = [self._pool.submit(self._fetch, key), 1]
            while len(self._pending) > 4 * self.options.requests_in_flight:  # never asked for: let go
                self._pending.popitem(last=False)[1][0].cancel()

    def _fetch(self, key: Range) -> bytes:
        shard, offset, size = key
        if self.cache is not None and (cached := self.cache.get(*key)) is not None:
            with self._lock:
                self.stats.cache_hits += 1
            return cached
        where = f"{self.location.describe('shards', Path(self.tar_paths[shard]).name)} bytes {offset}+{size}"
        try:
            payload = with_retries(lambda: self._request(key), self.options.retry, on_retry=self._count_retry)
        except OSError as error:
            if is_access_error(error):
                raise StoreAccessError(f"{where}: the store refused access ({error}); {CREDENTIALS_FIX}") from error
            with self._lock:
                self.stats.failures += 1
            raise MemberUnreadable(f"store: {where} unreadable after {self.options.retry.attempts} attempt(s): "
                                   f"{str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}"
                                   ) from error
        if self.cache is not None:
            self.cache.put(*key, payload)
        return payload

    def _request(self, key: Range) -> bytes:
        shard, offset, size = key
        with self._lock:
            self.stats.requests += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            if self.options.record_requests:
                self.stats.requested.append(key)
        try:
            payload = self._handle(shard).read_at(size, offset)
        finally:
            with self._lock:
                self.stats.in_flight -= 1
        if len(payload) != size:
            raise OSError(f"short read: {len(payload)} of {size} bytes")  # a dropped connection mid-body
        with self._lock:
            self.stats.bytes += size
        return payload

    def _handle(self, shard: int):
        """An open input file of the shard (range reads on it are independent requests, thread-safe).
        Opening costs a metadata request on S3, so one thread opens it while the others wait."""
        with self._lock:
            opening = self._handles.get(shard)
            if opening is None:
                opening = self._handles[shard] = Future()
                self.stats.opens += 1
                if len(self._handles) > MAX_OPEN_SHARDS:
                    self._handles.popitem(last=False)
                opener = True
            else:
                self._handles.move_to_end(shard)
                opener = False
        if opener:
            try:
                opening.set_result(self.location.filesystem.open_input_file(self.tar_paths[shard]))
            except OSError as error:  # the next request opens it anew
                with self._lock:
                    if self._handles.get(shard) is opening:
                        del self._handles[shard]
                opening.set_exception(error)
        return opening.result()

    def _count_retry(self, error: BaseException) -> None:
        with self._lock:
            self.stats.retries += 1

    def snapshot(self) -> ReadStats:
        """A copy of the counts so far (the recorded ranges included)."""
        with self._lock:
            return ReadStats(**{**self.stats.__dict__, "requested": list(self.stats.requested)})


def open_shard_reader(table, options: StoreOptions | None = None) -> LocalShards | StoreShards:
    """The reader of `table`'s shards (a MemberTable): `pread` for a directory, range requests for a store URI."""
    from mmssl.data.store import is_uri, open_location

    if not is_uri(table.location):
        return LocalShards(table.tar_paths)
    return StoreShards(open_location(table.location), table.tar_paths, options or StoreOptions(), table.fingerprint)
