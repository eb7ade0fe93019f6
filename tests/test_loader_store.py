"""build_loader on an s3:// URI: the same batches as from local disk, each rank requesting only its own
samples' members, an unreadable member skipped and counted, and checkpoints valid across the two."""

from collections import Counter

import numpy as np

from mmssl.data.member_table import MemberTable
from mmssl.data.sample_plan import SamplePlan
from mmssl.data.shard_reader import StoreOptions
from mmssl.data.store import RetryPolicy
from mmssl.pipelines.loader import build_loader

OPTIONS = {"image_size": 32}


def assert_same_batches(first, second):
    assert first.keys() == second.keys()
    for name in first:
        assert np.array_equal(first[name].numpy(), second[name].numpy()), name


def test_store_loader_yields_the_local_loaders_batches(store_square_dataset):
    uri, local_dir = store_square_dataset
    local = build_loader("pirl", local_dir, batch_size=8, seed=4, num_threads=1)
    remote = build_loader("pirl", uri, batch_size=8, seed=4, num_threads=1)
    for first, second in zip(local, remote, strict=True):
        assert_same_batches(first, second)
    stats = remote.store_stats()
    assert local.store_stats() is None and stats.requests >= 16 and stats.failures == 0


def test_each_rank_requests_only_its_own_samples_members(store_square_dataset, store_proxy):
    uri, _ = store_square_dataset
    uri = uri.replace(uri.split("endpoint_override=")[1].split("&")[0], store_proxy.endpoint)
    table = MemberTable.open(uri)
    shards, jpgs = table.shard_numbers(), table.locations("jpg")
    requested = []
    for rank in range(2):
        loader = build_loader("image", uri, batch_size=4, shard_id=rank, num_shards=2, seed=9, options=OPTIONS,
                              store=StoreOptions(requests_in_flight=4, record_requests=True))
        for _ in loader:  # one epoch of 2 batches; DALI asks for the next batch ahead, the reader 4 slots more
            pass
        plan = SamplePlan(table.num_samples, 4, rank, 2, seed=9)
        rows = np.concatenate([plan.batch_rows(epoch, batch) for epoch in (0, 1) for batch in (0, 1)])
        planned = Counter((int(shards[r]), int(jpgs[r, 0]), int(jpgs[r, 1])) for r in rows)
        requested.append(loader.store_stats().requested)
        # once per planned slot at most (a sample of both epochs twice), and nothing outside this rank's plan
        assert not Counter(requested[rank]) - planned
        assert set(requested[rank][:8]) == {(int(shards[r]), int(jpgs[r, 0]), int(jpgs[r, 1])) for r in rows[:8]}
    # the server saw the same: no bytes of the shards were read but these members (the other requests: a HEAD
    # per shard opened, and the .idx files, read whole to build the member table)
    ranged = {request.range for request in store_proxy.requests if request.line.startswith("GET") and ".tar " in request.line}
    assert ranged == {f"bytes={offset}-{offset + size - 1}" for _, offset, size in requested[0] + requested[1]}


def test_an_unreadable_member_is_skipped_and_counted(store_square_dataset, store_proxy):
    uri, _ = store_square_dataset
    uri = uri.replace(uri.split("endpoint_override=")[1].split("&")[0], store_proxy.endpoint)
    loader = build_loader("image", uri, batch_size=8, seed=2, options=OPTIONS,
                          store=StoreOptions(requests_in_flight=1, retry=RetryPolicy(attempts=1)))
    store_proxy.drop_next(2)  # libcurl may resend the first once itself: at least one member fails for good
    seen = [index for _ in range(2) for batch in loader for index in batch["index"].tolist()]
    assert loader.samples_skipped == 1 and loader.store_stats().failures == 1
    (bad,) = loader.bad_samples
    assert bad.reason.startswith("jpg: store: ") and "unreadable after 1 attempt(s)" in bad.reason
    assert bad.index not in seen[8:] and len(seen) == 32  # substituted in its slot, left out from then on


def test_a_local_checkpoint_resumes_on_the_store_copy(store_square_dataset):
    uri, local_dir = store_square_dataset
    local = build_loader("image", local_dir, batch_size=4, seed=1, options=OPTIONS)
    batches = iter(local)
    next(batches)
    saved = local.checkpoint()
    expected = next(batches)
    resumed = build_loader("image", uri, batch_size=4, seed=1, options=OPTIONS, checkpoint=saved)
    assert_same_batches(next(iter(resumed)), expected)  # the same dataset fingerprint, wherever it is read from


def test_av_pairs_from_the_store_match_local_disk_negatives_and_skips_included(store_mixed_dataset):
    """Videos with sound, with other videos' sound as negatives (read on demand through the store), and the
    dataset's truncated mp4 and undecodable FLAC skipped alike."""
    uri, local_dir = store_mixed_dataset
    options = {"frames": 2, "frame_stride": 2, "crop_px": 32, "audio_s": 0.5, "n_mels": 32, "negative_fraction": 0.5}
    local = build_loader("av_pairs", local_dir, batch_size=2, seed=3, options=options, num_threads=1)
    remote = build_loader("av_pairs", uri, batch_size=2, seed=3, options=options, num_threads=1)
    for first, second in zip(local, remote, strict=True):
        assert_same_batches(first, second)
    assert [(s.index, s.reason) for s in remote.bad_samples] == [(s.index, s.reason) for s in local.bad_samples]
    assert {s.index for s in remote.bad_samples} == {24, 25}


def test_easy_negatives_sound_is_fetched_ahead_with_the_slots_own_members(local_s3, tmp_path):
    """av_pairs with every pair an easy negative (another video's sound): that FLAC is known before the
    slot is read (drawn from the slot's seed), so it is fetched ahead like the slot's own members and no
    read waits for a round trip; the batches are local disk's."""
    from fixtures_store import BUCKET
    from fixtures_video import prepared_video, write_video_dataset

    local_dir = write_video_dataset(tmp_path / "videos", [
        prepared_video(16, width=64, height=48, audio_events_s=(0.2 + 0.05 * i,)) for i in range(6)], shard_bytes=1 << 16)
    local_s3.upload(local_dir, f"{BUCKET}/easy-negatives")
    options = {"frames": 2, "frame_stride": 2, "crop_px": 32, "audio_s": 0.25, "n_mels": 16, "negative_fraction": 1.0}
    local = build_loader("av_pairs", local_dir, batch_size=2, seed=5, options=options, num_threads=1)
    remote = build_loader("av_pairs", local_s3.uri(f"{BUCKET}/easy-negatives"), batch_size=2, seed=5,
                          options=options, num_threads=1, store=StoreOptions(requests_in_flight=8))
    for _ in range(2):
        for first, second in zip(local, remote, strict=True):
            assert_same_batches(first, second)
            assert (second["match"] == 0).all() and (second["audio_index"] != second["index"]).all()
    stats = remote.store_stats()
    assert remote.samples_skipped == 0 and stats.requests >= 6 * 2  # each video's mp4 and flac at least once
    assert stats.not_prefetched == 0, stats
