"""Damage in any member, found by decoding only, never stops a run, and a sample found bad stays out.

The dataset (fixtures_damage.py) has a FLAC and an mp4 with noise written over their middles after
preparation. Both pass the structural check; DALI fails on the FLAC (whether the batch reads it as a
video's own sound or borrows it as another video's negative), decord on the mp4.
"""

from __future__ import annotations

import json

import pytest
import torch

from fixtures_damage import DAMAGED_FLAC, DAMAGED_MP4, NUM_VIDEOS, damaged_av_dataset
from mmssl.pipelines.loader import BatchFailedError, build_loader
from mmssl.pipelines.sample_source import SampleSource

AV_OPTIONS = {"crop_px": 32, "frames": 4, "frame_stride": 2, "audio_s": 0.5, "n_mels": 32,
              "negative_fraction": 0.5, "hard_negative_fraction": 0.5}
AUDIO_OPTIONS = {"audio_s": 0.5, "n_mels": 32}
OPTIONS = {"av_pairs": AV_OPTIONS, "audio": AUDIO_OPTIONS}
FLAC_REASON = "flac: audio does not decode: Invalid data found when processing input"  # PyAV's full decode
EXPECTED_BAD = {"av_pairs": {DAMAGED_FLAC, DAMAGED_MP4}, "audio": {DAMAGED_FLAC}}  # audio never reads the mp4


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    return damaged_av_dataset(tmp_path_factory.mktemp("damaged_av"))


def fed_indices(batch: dict) -> set[int]:
    """Every sample whose member the batch holds: its own, and any video whose sound it borrowed."""
    return set(batch["index"].tolist()) | set(batch.get("audio_index", batch["index"]).tolist())


@pytest.mark.parametrize("pipeline", ["av_pairs", "audio"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_two_epochs_finish_and_report_each_damaged_member_once(damaged, pipeline, seed):
    loader = build_loader(pipeline, damaged, batch_size=4, seed=seed, num_threads=1, options=OPTIONS[pipeline])
    known_before = set()
    for epoch in range(2):
        batches = 0
        for batch in loader:
            batches += 1
            assert batch["index"].numel() == 4
            # a sample reported bad before this batch is never fed again, as itself or as a negative
            assert not fed_indices(batch) & known_before, (epoch, batches)
            # the damaged sound never reaches a batch: DALI fails on it, and it is found first
            assert DAMAGED_FLAC not in batch.get("audio_index", batch["index"]).tolist()
            known_before = {s.index for s in loader.bad_samples}
        assert batches == loader.batches_per_epoch
    reasons = {s.index: s.reason for s in loader.bad_samples}
    assert set(reasons) == EXPECTED_BAD[pipeline] and loader.samples_skipped == len(EXPECTED_BAD[pipeline])
    assert reasons[DAMAGED_FLAC] == FLAC_REASON
    if pipeline == "av_pairs":
        # decord's message (it depends on which of its threads sees the error first), without its
        # timestamps, source paths or C++ expressions
        assert reasons[DAMAGED_MP4] in ("mp4: video does not decode (decord: Error sending packet (invalid data))",
                                        "mp4: video does not decode (decord: the decoder stopped on bad data)")
    assert all(s.where.startswith("shard-") and f"key {s.index:010d}" in s.where for s in loader.bad_samples)


def test_a_sample_found_bad_is_never_read_in_a_later_epoch(damaged, monkeypatch):
    """Skips stick: epoch 2 does not even read a bad sample's members (no decode time spent on it again)."""
    loader = build_loader("av_pairs", damaged, batch_size=4, seed=1, num_threads=1, options=AV_OPTIONS)
    list(loader)
    assert {s.index for s in loader.bad_samples} == {DAMAGED_FLAC, DAMAGED_MP4}
    read = []
    original = SampleSource.read_member
    monkeypatch.setattr(SampleSource, "read_member", lambda self, index, ext: read.append(index) or original(self, index, ext))
    epoch_two = list(loader)
    assert len(epoch_two) == loader.batches_per_epoch and read
    assert not set(read) & {DAMAGED_FLAC, DAMAGED_MP4}


def test_the_bad_set_travels_in_the_checkpoint(damaged):
    """Resumed after epoch 1 (and in the middle of epoch 2), a loader yields what the uninterrupted one does."""
    kwargs = dict(batch_size=4, seed=2, num_threads=1, options=AV_OPTIONS)
    loader = build_loader("av_pairs", damaged, **kwargs)
    list(loader)
    after_epoch = loader.checkpoint()
    stream = iter(loader)
    first = next(stream)
    mid_epoch = loader.checkpoint()
    rest = list(stream)
    saved = json.loads(after_epoch)
    assert {entry[0] for entry in saved["bad"]} == {DAMAGED_FLAC, DAMAGED_MP4}
    for state, expected in ((after_epoch, [first, *rest]), (mid_epoch, rest)):
        resumed = build_loader("av_pairs", damaged, checkpoint=state, **kwargs)
        again = list(resumed)
        assert len(again) == len(expected)
        for want, have in zip(expected, again):
            for name in want:
                assert torch.equal(want[name], have[name]), name
        assert {s.index for s in resumed.bad_samples} == {DAMAGED_FLAC, DAMAGED_MP4}


@pytest.mark.parametrize("full_check", [("flac",), ()], ids=["checked-on-first-read", "found-when-dali-fails"])
def test_a_damaged_flac_borrowed_as_a_negative_is_found(damaged, full_check):
    """A batch that reads the damaged FLAC only as another video's sound. By default the source decodes
    every FLAC whole the first time it reads it; without that, DALI fails on the batch and the search of
    the failed batch covers borrowed members. Either way the FLAC's own sample is blamed and the batch
    is served without it."""
    options = dict(AV_OPTIONS, negative_fraction=1.0, hard_negative_fraction=0.0)  # every audio borrowed
    for seed in range(40):  # a seed whose first batch borrows the damaged FLAC (found by replaying its slots)
        probe = build_loader("av_pairs", damaged, batch_size=4, seed=seed, num_threads=1, options=options,
                             full_check=())
        slots = probe._slots_of(0, 0)
        if DAMAGED_FLAC not in {slot.index for slot in slots} and \
                DAMAGED_FLAC in {index for slot in slots for index, _, _ in slot.borrowed}:
            break
    else:
        pytest.fail("no seed borrows the damaged FLAC in its first batch")
    loader = build_loader("av_pairs", damaged, batch_size=4, seed=seed, num_threads=1, options=options,
                          full_check=full_check)
    batch = next(iter(loader))
    assert DAMAGED_FLAC not in batch["audio_index"].tolist() and DAMAGED_FLAC not in batch["index"].tolist()
    assert (batch["match"] == 0).all() and (batch["audio_index"] != batch["index"]).all()
    assert {s.index: s.reason for s in loader.bad_samples}[DAMAGED_FLAC] == FLAC_REASON


def test_a_failure_no_sample_explains_names_the_batch(damaged):
    """DALI fails on a batch whose every member decodes on the CPU: the error names the batch's samples."""
    for seed in range(20):
        loader = build_loader("audio", damaged, batch_size=4, seed=seed, num_threads=1, options=AUDIO_OPTIONS,
                              full_check=())
        rows = [loader._source.index_of_row(row) for row in loader.plan.batch_rows(0, 0)]
        if DAMAGED_FLAC not in rows:
            break
    with pytest.raises(BatchFailedError) as failure:
        loader._find_samples_dali_failed_on(RuntimeError("Critical error in pipeline: something odd"))
    message = str(failure.value)
    assert "batch 0 of epoch 0 on rank 0" in message and "something odd" in message
    for index in rows:
        assert f"key {index:010d}" in message


def test_a_checkpoint_is_refused_anywhere_else_with_each_difference_named(damaged, tmp_path):
    from fixtures_video import prepared_video, write_video_dataset

    kwargs = dict(batch_size=4, seed=3, num_threads=1, options=AUDIO_OPTIONS)
    loader = build_loader("audio", damaged, **kwargs)
    next(iter(loader))
    state = loader.checkpoint()
    other = write_video_dataset(tmp_path / "other", [prepared_video(16, audio_events_s=(0.2,)) for _ in range(5)])
    cases = [
        (dict(kwargs, options=dict(AUDIO_OPTIONS, n_mels=40)), other, ["options.n_mels: 32 -> 40", "dataset.samples"]),
        (dict(kwargs, shuffle=False), damaged, ["shuffle: True -> False"]),
        (dict(kwargs, seed=4), damaged, ["seed: 3 -> 4"]),
        (kwargs, other, ["dataset.fingerprint", f"dataset.samples: {NUM_VIDEOS} -> 5"]),
    ]
    for changed, data_dir, named in cases:
        with pytest.raises(ValueError, match="belongs to another loader") as refusal:
            build_loader("audio", data_dir, checkpoint=state, **changed)
        for difference in named:
            assert difference in str(refusal.value)
    with pytest.raises(ValueError, match="pipeline: 'audio' -> 'av_pairs'"):
        build_loader("av_pairs", damaged, checkpoint=state, batch_size=4, seed=3, options=AV_OPTIONS)
