"""Member bytes by range from a real S3 server: the same bytes as on disk, requests kept in flight, transient
failures retried, lasting ones reported as an unreadable member, and a bounded local cache."""

import pytest

from mmssl.data.member_cache import MemberCache
from mmssl.data.member_table import MemberTable
from mmssl.data.shard_reader import LocalShards, MemberUnreadable, StoreOptions, StoreShards, open_shard_reader
from mmssl.data.store import RetryPolicy, open_location


def member_ranges(table: MemberTable) -> list[tuple[int, int, int]]:
    shards, jpgs = table.shard_numbers(), table.locations("jpg")
    return [(int(shards[i]), int(jpgs[i, 0]), int(jpgs[i, 1])) for i in range(table.num_samples)]


def store_reader(table: MemberTable, endpoint: str, **options) -> StoreShards:
    """A reader of `table`'s store through `endpoint` (a proxy) instead of the URI's own."""
    uri = table.location.replace(table.location.split("endpoint_override=")[1].split("&")[0], endpoint)
    return StoreShards(open_location(uri), table.tar_paths, StoreOptions(**options), table.fingerprint)


def test_store_ranges_hold_the_bytes_on_disk_one_request_each(store_square_dataset):
    uri, local_dir = store_square_dataset
    table, local = MemberTable.open(uri), LocalShards(MemberTable.open(local_dir).tar_paths)
    reader = open_shard_reader(table, StoreOptions(record_requests=True))
    ranges = member_ranges(table)
    reader.prefetch(ranges)
    assert all(reader.read(*key) == local.read(*key) for key in ranges)
    stats = reader.snapshot()
    assert sorted(stats.requested) == sorted(ranges) and stats.bytes == sum(size for *_, size in ranges)
    assert stats.opens == len(table.tar_paths) and stats.retries == stats.failures == 0


def test_prefetched_requests_run_concurrently_behind_latency(store_square_dataset, store_proxy):
    uri, _ = store_square_dataset
    table = MemberTable.open(uri)
    store_proxy.delay_s = 0.05
    reader = store_reader(table, store_proxy.endpoint, requests_in_flight=16)
    ranges = member_ranges(table)
    reader.prefetch(ranges)
    for key in ranges:
        reader.read(*key)
    stats = reader.snapshot()
    ranged = [request for request in store_proxy.requests if request.range is not None]
    assert len(ranged) == stats.requests == len(ranges)  # the server saw exactly the reader's requests
    assert stats.max_in_flight >= 8  # waiting out the delay together, not one after another


def test_dropped_requests_are_retried_and_the_bytes_still_arrive(store_square_dataset, store_proxy):
    uri, local_dir = store_square_dataset
    table, local = MemberTable.open(uri), LocalShards(MemberTable.open(local_dir).tar_paths)
    reader = store_reader(table, store_proxy.endpoint, requests_in_flight=1,
                          retry=RetryPolicy(attempts=8, first_delay_s=0.01))
    store_proxy.drop_next(3)
    ranges = member_ranges(table)[:4]
    assert [reader.read(*key) for key in ranges] == [local.read(*key) for key in ranges]
    stats = reader.snapshot()
    ranged = [request for request in store_proxy.requests if request.range is not None]
    assert len(ranged) == len(ranges) + 3 and stats.failures == 0
    # libcurl itself resends once on a kept-alive connection found closed; the rest are the reader's retries
    assert 1 <= stats.retries <= 3 and stats.requests == len(ranges) + stats.retries


def test_a_member_that_keeps_failing_is_unreadable_naming_shard_and_range(store_square_dataset, store_proxy):
    uri, _ = store_square_dataset
    table = MemberTable.open(uri)
    reader = store_reader(table, store_proxy.endpoint, retry=RetryPolicy(attempts=2, first_delay_s=0.0))
    shard, offset, size = member_ranges(table)[0]
    store_proxy.drop_next(100)
    with pytest.raises(MemberUnreadable, match=rf"shards/shard-000000.tar bytes {offset}\+{size} unreadable after 2"):
        reader.read(shard, offset, size)
    stats = reader.snapshot()
    assert stats.failures == 1 and stats.requests == 2
    store_proxy.drop_next(0)
    assert len(reader.read(shard, offset, size)) == size  # the store is back: read again on the next ask


def test_cache_serves_repeat_reads_without_requests(store_square_dataset, tmp_path):
    uri, _ = store_square_dataset
    table = MemberTable.open(uri)
    options = StoreOptions(cache_dir=str(tmp_path), cache_bytes=10 << 20)
    ranges = member_ranges(table)
    first = open_shard_reader(table, options)
    payloads = [first.read(*key) for key in ranges]
    second = open_shard_reader(table, options)  # another process of the node, sharing the cache directory
    assert [second.read(*key) for key in ranges] == payloads
    stats = second.snapshot()
    assert stats.requests == 0 and stats.cache_hits == len(ranges)


def test_cache_stays_within_its_bound_dropping_the_least_recently_used(tmp_path):
    cache = MemberCache(tmp_path, max_bytes=8000)
    for offset in range(20):
        cache.put(0, offset * 1000, 1000, bytes([offset]) * 1000)
        assert cache.size_bytes() <= 8000 + 8000 // 8 + 1000  # at most an eighth (one member) over, between trims
    cache.trim()
    assert cache.size_bytes() <= 8000
    assert cache.get(0, 19000, 1000) == bytes([19]) * 1000  # the newest is kept
    assert cache.get(0, 0, 1000) is None  # the oldest went first
