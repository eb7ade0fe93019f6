"""A sample that fails to decode is skipped and counted; the epoch, the batch count and resume survive it.

corrupt_dataset holds a truncated JPEG and a garbage one (the sample source's structural check
rejects both before DALI sees them) and one with intact markers around garbage (only DALI's
decoder fails on it: the loader finds it by decoding the failed batch on the CPU and rebuilds).
"""

import torch

from fixtures_pipelines import CORRUPT_INDICES
from mmssl.pipelines.loader import build_loader

OPTIONS = {"image_size": 48, "tile_crop_px": 96, "tile_px": 24}


def _indices(batches) -> list[int]:
    return [i for batch in batches for i in batch["index"].tolist()]


def test_epoch_completes_without_the_corrupt_samples(corrupt_dataset, caplog):
    loader = build_loader("pirl", corrupt_dataset, batch_size=5, seed=2, options=OPTIONS)
    for epoch in range(2):
        batches = list(loader)
        assert len(batches) == loader.batches_per_epoch == 5
        assert all(batch["image"].shape == (5, 3, 48, 48) for batch in batches)  # substitutes keep batches full
        indices = _indices(batches)
        assert set(indices) == set(range(24)) - set(CORRUPT_INDICES)
        assert loader.samples_skipped == 3, f"epoch {epoch}: each bad sample is counted once"
    reasons = {s.index: s.reason for s in loader.bad_samples}
    assert "truncated JPEG" in reasons[7] and "JPEG" in reasons[11]
    assert reasons[17].startswith("jpg: JPEG does not decode")  # found by the CPU decode of the failed batch
    assert all(s.where.startswith("shard-") and f"key {s.index:010d}" in s.where for s in loader.bad_samples)
    assert "skipping sample shard-" in caplog.text


def test_resume_keeps_skipping_and_matches_the_uninterrupted_run(corrupt_dataset):
    kwargs = dict(batch_size=4, seed=5, num_shards=2, shard_id=0, options={"image_size": 32})
    loader = build_loader("rotation", corrupt_dataset, **kwargs)
    stream = (batch for _ in range(2) for batch in loader)
    first = [next(stream) for _ in range(2)]
    state = loader.checkpoint()
    rest = list(stream)
    resumed = build_loader("rotation", corrupt_dataset, checkpoint=state, **kwargs)
    again = [batch for _ in range(2) for batch in resumed]
    assert len(first) + len(again) == 2 * loader.batches_per_epoch
    for want, have in zip(rest, again):
        for name in want:
            assert torch.equal(want[name], have[name]), name
    assert not set(_indices(first + rest)) & set(CORRUPT_INDICES)
    assert resumed.samples_skipped == loader.samples_skipped
