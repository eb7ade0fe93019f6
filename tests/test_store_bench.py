"""The storage benchmark: local disk and store rows on the same data, the store rows carrying what the reader
asked of the store (its requests through the delaying proxy included) and where the CPU went, and the local
copy made from the store."""

import filecmp

from mmssl.bench.store_bench import StoreBenchConfig, copy_to_local, render_store_rows, run_store_bench


def test_rows_compare_local_disk_with_the_store_with_and_without_latency(store_square_dataset):
    uri, local_dir = store_square_dataset
    config = StoreBenchConfig(uri, str(local_dir), pipeline="image", batch_size=4, threads=1, warmup=1, batches=4,
                              rounds=1, added_latency_ms=(5,), requests_in_flight=(1, 8), options={"image_size": 32})
    rows = run_store_bench(config)
    assert [row.label for row in rows] == ["local disk", "store, 1 in flight", "store, 8 in flight",
                                           "store +5 ms, 1 in flight", "store +5 ms, 8 in flight"]
    local, *stores = rows
    assert local.requests_per_s is None and len(local.samples_per_s) == 1
    # the window the reader was given bounds the requests at once, and 8 run together (all 8 only when none
    # ends before the last is sent: not on a loaded machine)
    assert [row.max_in_flight for row in stores][::2] == [1, 1]
    assert all(2 <= row.max_in_flight <= 8 for row in stores[1::2]), [row.max_in_flight for row in stores]
    assert all(row.requests_per_s > 0 and row.megabytes_per_s > 0 and row.retries == 0 for row in stores)
    assert all(row.not_prefetched == 0 for row in stores)  # every read found its member on the way
    # the CPU split: the store server (the fixture's, a process below this one) works for the store rows only
    assert all(row.loader_cpu_ms > 0 for row in rows)
    assert sum(row.below_cpu_ms for row in stores) > 2 * local.below_cpu_ms + 0.5, \
        [(row.label, row.below_cpu_ms) for row in rows]
    table = render_store_rows(config, rows)
    assert table.splitlines()[1].startswith("| data | samples/s | vs local disk |") and "| local disk |" in table


def test_the_local_copy_holds_the_stores_files(store_square_dataset, tmp_path):
    uri, local_dir = store_square_dataset
    copy = copy_to_local(uri, tmp_path / "copy")
    for name in ("manifest.parquet", "shards/shard-000000.tar", "shards/shard-000002.idx"):
        assert filecmp.cmp(copy / name, local_dir / name, shallow=False), name
