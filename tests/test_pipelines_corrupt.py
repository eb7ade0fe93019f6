"""A JPEG that fails to decode is skipped and counted; the epoch, the batch count and resume survive it."""

import torch

from fixtures_pipelines import CORRUPT_INDICES
from mmssl.data.shards import read_index
from mmssl.pipelines.corrupt import BadSample, bad_samples_in_error, repaired_shards, scan_for_bad_samples
from mmssl.pipelines.loader import build_loader
from mmssl.pipelines.reader import ShardSet

OPTIONS = {"image_size": 48, "tile_crop_px": 96, "tile_px": 24}


def test_epoch_completes_without_the_corrupt_samples(corrupt_dataset, caplog):
    """Index 7 (truncated) is named by the decoder's error; index 11 (garbage) is found by the scan."""
    loader = build_loader("pirl", corrupt_dataset, batch_size=5, seed=2, options=OPTIONS)
    for epoch in range(2):
        batches = list(loader)
        assert len(batches) == loader.batches_per_epoch == 5
        indices = [i for batch in batches for i in batch["index"].tolist()]
        assert not set(indices) & set(CORRUPT_INDICES)
        assert set(indices) == set(range(24)) - set(CORRUPT_INDICES)
        assert all(batch["image"].shape == (5, 3, 48, 48) for batch in batches)
        assert loader.samples_skipped == 2, f"epoch {epoch}: each bad sample is counted once"
    assert "names no sample" in caplog.text  # the fallback scan really ran


def test_resume_keeps_skipping_and_matches_the_uninterrupted_run(corrupt_dataset):
    kwargs = dict(batch_size=4, seed=5, num_shards=2, shard_id=0, options={"image_size": 32})
    loader = build_loader("rotation", corrupt_dataset, **kwargs)
    stream = iter(loader)
    first = [next(stream) for _ in range(2)]
    state = loader.checkpoint()
    rest = list(stream)
    resumed = build_loader("rotation", corrupt_dataset, checkpoint=state, **kwargs)
    assert resumed.samples_skipped == loader.samples_skipped
    again = list(resumed)
    assert len(first) + len(again) == loader.batches_per_epoch
    for want, have in zip(rest, again):
        assert torch.equal(want["image"], have["image"]) and torch.equal(want["index"], have["index"])
    seen = {i for batch in first + rest for i in batch["index"].tolist()}
    assert not seen & set(CORRUPT_INDICES) and loader.samples_skipped == 2


def test_repaired_index_points_bad_entries_at_a_neighbour(corrupt_dataset, tmp_path):
    shards = ShardSet.from_dataset(corrupt_dataset)
    bad = scan_for_bad_samples(shards, list(range(shards.num_samples)))
    assert sorted(b.member for b in bad) == [f"{i:010d}.jpg" for i in CORRUPT_INDICES]
    repaired = repaired_shards(shards, bad, tmp_path)
    changed = [i for i, (a, b) in enumerate(zip(shards.index_paths, repaired.index_paths)) if a != b]
    assert changed
    for i in changed:
        bad_offsets = {b.offset for b in bad if b.tar_path == shards.tar_paths[i]}
        before, after = read_index(shards.index_paths[i]), read_index(repaired.index_paths[i])
        assert len(before) == len(after)  # same sample count: rank slices and resume stay exact
        for old, new in zip(before, after):
            if old["jpg"][0] in bad_offsets:
                assert new in before and new != old and new["jpg"][0] not in bad_offsets
            else:
                assert new == old


def test_error_source_info_is_parsed_for_known_tars_only(corrupt_dataset):
    shards = ShardSet.from_dataset(corrupt_dataset)
    tar = shards.tar_paths[0]
    message = f"Failed to decode sample #3 : {tar}:50688:0000000007.jpg\nother: /elsewhere/x.tar:1:y.jpg"
    assert bad_samples_in_error(message, shards) == [BadSample(tar, 50688, "0000000007.jpg")]


def test_scan_decodes_only_the_given_positions(corrupt_dataset):
    shards = ShardSet.from_dataset(corrupt_dataset)
    clean = [p for p in range(shards.num_samples) if p not in CORRUPT_INDICES]
    assert scan_for_bad_samples(shards, clean) == []
    first_only = scan_for_bad_samples(shards, list(range(shards.num_samples)), stop_after_found=1)
    assert [b.member for b in first_only] == [f"{CORRUPT_INDICES[0]:010d}.jpg"]
