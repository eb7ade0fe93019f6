"""Datasets that mix photos and videos: each family reads exactly the samples that have its members.

Also the plan's global shuffle: a folder-per-class input (indices in class blocks) gives batches
whose class mix matches the dataset's.
"""

import numpy as np
import torch

from mmssl.data.member_table import MemberTable
from mmssl.data.sample_plan import SamplePlan
from mmssl.pipelines.loader import build_loader
from mmssl.pipelines.sample_source import SampleSource

PHOTOS = list(range(20)) + list(range(26, 30))


def test_image_family_trains_on_the_photos_only(mixed_dataset):
    data_dir, _ = mixed_dataset
    loader = build_loader("pirl", data_dir, batch_size=8, seed=3, options={"image_size": 16, "tile_px": 16})
    assert loader.num_samples == 24 and loader.modality == "image"
    assert loader.dataset_modalities() == {"image": 24, "video": 6, "audio": 0}
    assert loader.unused_modalities() == {"image": 0, "video": 6, "audio": 0}
    batches = list(loader)
    indices = torch.cat([b["index"] for b in batches])
    rows = torch.cat([b["row"] for b in batches])
    assert sorted(indices.tolist()) == PHOTOS and sorted(rows.tolist()) == list(range(24))
    assert all(PHOTOS[r] == i for r, i in zip(rows.tolist(), indices.tolist()))  # row r = the r-th photo
    assert loader.samples_skipped == 0


def _slots(data_dir, exts, epoch=0, full_check=("flac",)):
    table = MemberTable.open(data_dir)
    plan = SamplePlan(table.eligible_count(exts), 2, seed=1)
    source = SampleSource(table, exts, plan, full_check=full_check)
    return [source.slot(epoch, b, p) for b in range(plan.batches_per_epoch) for p in range(2)]


def test_video_and_audio_members_are_fed_or_skipped_with_a_reason(mixed_dataset):
    """The source that will feed the video and audio graphs: a truncated mp4 and an undecodable flac
    are found (the mp4 by its structure; the flac by decoding it whole on first read, or, with that
    off, when the graph fails and the batch is decoded)."""
    data_dir, samples = mixed_dataset
    videos = _slots(data_dir, ("mp4",))
    fed = {s.index for s in videos}
    assert fed == {20, 21, 22, 23, 25}
    skipped = {index: reason for s in videos for index, reason in s.skipped}
    assert list(skipped) == [24] and "truncated MP4" in skipped[24]
    for slot in videos:
        assert slot.members == (samples[slot.index]["mp4"],)

    with_audio = _slots(data_dir, ("mp4", "flac"))
    assert {s.index for s in with_audio} == {20, 21, 22}  # 23 is silent: never an audio source
    refused = {index: reason for s in with_audio for index, reason in s.skipped}
    assert set(refused) == {24, 25} and refused[25].startswith("flac: audio")
    from mmssl.data.member_checks import FULL_CHECKS

    unchecked = _slots(data_dir, ("mp4", "flac"), full_check=())
    assert {s.index for s in unchecked} == {20, 21, 22, 25}
    assert {s.index for s in unchecked if FULL_CHECKS["flac"](s.members[1])} == {25}


def test_batches_mix_classes_like_the_dataset(class_blocks_dataset):
    """Indices are in class blocks (a folder per class); every batch should look like the whole."""
    data_dir, num_classes, per_class = class_blocks_dataset
    loader = build_loader("image", data_dir, batch_size=64, seed=0, options={"image_size": 8})
    distances = []
    for batch in loader:
        classes = batch["index"].numpy() // per_class
        share = np.bincount(classes, minlength=num_classes) / len(classes)
        distances.append(0.5 * np.abs(share - 1 / num_classes).sum())  # total variation to the dataset's mix
    # the order a contiguous-slice reader with a 1024-sample shuffle buffer would give scores far worse
    total = num_classes * per_class
    buffer_order = np.concatenate([np.random.default_rng(0).permutation(np.arange(s, min(s + 1024, total)))
                                   for s in range(0, total, 1024)])
    contiguous = [0.5 * np.abs(np.bincount(buffer_order[s : s + 64] // per_class, minlength=num_classes) / 64
                               - 1 / num_classes).sum() for s in range(0, total - 63, 64)]
    assert np.mean(contiguous) > 0.5
    assert np.mean(distances) < 0.2 and max(distances) < 0.35, distances


def test_video_and_audio_families_read_their_samples_of_a_mixed_dataset(mixed_dataset):
    """clips: every video (a silent one too); audio: every flac; av_pairs: videos with sound. Photos never."""
    data_dir, _ = mixed_dataset
    cases = {"clips": ({20, 21, 22, 23, 25}, {24}, "video"), "audio": ({20, 21, 22, 24}, {25}, "audio"),
             "av_pairs": ({20, 21, 22}, {24, 25}, "video+audio")}
    small = {"crop_px": 16, "frames": 2, "audio_s": 0.5}
    for family, (fed_expected, skipped_expected, modality) in cases.items():
        options = {k: v for k, v in small.items() if family != "audio" or k == "audio_s"}
        if family == "clips":
            options.pop("audio_s")
        loader = build_loader(family, data_dir, batch_size=2, seed=2, options=options)
        assert loader.modality == modality
        fed = {i for _ in range(2) for batch in loader for i in batch["index"].tolist()}
        assert fed == fed_expected, family
        assert {s.index for s in loader.bad_samples} == skipped_expected, family
