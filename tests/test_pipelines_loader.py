"""The loader contract: rank slices disjoint and covering, equal batch counts, exact resume, clear errors."""

from collections import Counter

import pytest
import torch

from mmssl.pipelines.loader import build_loader

SMALL = {"image_size": 32}


def _epoch_indices(loader) -> tuple[list[int], int]:
    batches = list(loader)
    return [i for batch in batches for i in batch["index"].tolist()], len(batches)


@pytest.mark.parametrize("num_shards", [1, 3])
def test_ranks_are_disjoint_cover_the_dataset_and_run_equal_batches(image_dataset, num_shards):
    """Every sample once per epoch across ranks, plus exactly the padding that fills the last batches."""
    loaders = [
        build_loader("rotation", image_dataset, batch_size=5, shard_id=r, num_shards=num_shards, seed=1, options=SMALL)
        for r in range(num_shards)
    ]
    assert len({loader.batches_per_epoch for loader in loaders}) == 1
    slots = num_shards * loaders[0].batches_per_epoch * 5
    for epoch in range(2):
        reads = Counter()
        for loader in loaders:
            indices, count = _epoch_indices(loader)
            assert count == loader.batches_per_epoch and len(indices) == count * 5
            reads.update(indices)
        assert set(reads) == set(range(64)), f"epoch {epoch} misses samples"
        assert sum(reads.values()) - 64 == slots - 64 < num_shards * 5, f"epoch {epoch}: more repeats than padding"
        assert max(reads.values()) <= 2


def test_rows_are_dense_and_map_to_the_manifest_index(image_dataset):
    batch = next(iter(build_loader("pirl", image_dataset, batch_size=16, options={"image_size": 16, "tile_px": 16})))
    assert torch.equal(batch["row"], batch["index"])  # an all-photo dataset: row r is manifest index r


def test_epochs_are_shuffled_differently(image_dataset):
    loader = build_loader("rotation", image_dataset, batch_size=8, seed=1, options=SMALL)
    first, _ = _epoch_indices(loader)
    second, _ = _epoch_indices(loader)
    assert sorted(first) == sorted(second) == list(range(64))
    assert first != second and first != sorted(first)


@pytest.mark.parametrize("stop_after", [2, 8])  # mid-epoch, and exactly at the end of the epoch
def test_resume_yields_exactly_the_next_batches(image_dataset, stop_after):
    options = {"image_size": 48, "tile_crop_px": 96, "tile_px": 24}
    kwargs = dict(batch_size=8, seed=9, shard_id=1, num_shards=2, options=options)
    loader = build_loader("pirl", image_dataset, **kwargs)
    stream = (batch for _ in range(3) for batch in loader)
    for _ in range(stop_after):
        next(stream)
    state = loader.checkpoint()
    expected = [next(stream) for _ in range(2)]
    resumed = build_loader("pirl", image_dataset, checkpoint=state, **kwargs)
    got = [batch for _ in range(2) for batch in resumed][:2]
    for want, have in zip(expected, got):
        assert want.keys() == have.keys()
        for name in want:
            assert torch.equal(want[name], have[name]), name


def test_checkpoint_from_another_seed_is_refused_and_another_batch_size_continues(image_dataset):
    loader = build_loader("rotation", image_dataset, batch_size=8, options=SMALL)
    stream = iter(loader)
    next(stream)
    state = loader.checkpoint()
    with pytest.raises(ValueError, match="seed: 0 -> 1"):
        build_loader("rotation", image_dataset, batch_size=8, seed=1, checkpoint=state, options=SMALL)
    following = next(stream)["index"].tolist()  # epoch positions 8..15
    smaller = build_loader("rotation", image_dataset, batch_size=4, checkpoint=state, options=SMALL)
    assert next(iter(smaller))["index"].tolist() == following[:4]  # positions 8..11: from the global position


def test_clear_errors_for_bad_arguments(image_dataset, tmp_path):
    with pytest.raises(ValueError, match="unknown pipeline 'simclr'"):
        build_loader("simclr", image_dataset, batch_size=2)
    with pytest.raises(ValueError, match="format"):
        build_loader("pirl", image_dataset, batch_size=2, checkpoint='{"format": "mmssl.image_loader.v1"}')
    with pytest.raises(FileNotFoundError, match="not a prepared dataset"):
        build_loader("pirl", tmp_path, batch_size=2)
    with pytest.raises(ValueError, match="cannot be split over 65 ranks"):
        build_loader("pirl", image_dataset, batch_size=2, shard_id=0, num_shards=65)
    with pytest.raises(ValueError, match="shard_id must be in 0..1"):
        build_loader("pirl", image_dataset, batch_size=2, shard_id=2, num_shards=2)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs CUDA"):
            build_loader("pirl", image_dataset, batch_size=2, device="gpu")


@pytest.mark.gpu
@pytest.mark.parametrize("pipeline", ["pirl", "jigsaw", "rotation", "jigsaw_rotation", "views"])
def test_gpu_batches_match_cpu_shapes_and_live_on_cuda(image_dataset, pipeline):
    options = {"permutations": 100} if pipeline == "jigsaw" else None
    cpu = next(iter(build_loader(pipeline, image_dataset, batch_size=4, options=options)))
    gpu_loader = build_loader(pipeline, image_dataset, batch_size=4, device="gpu", device_id=0, options=options)
    gpu = next(iter(gpu_loader))
    assert cpu.keys() == gpu.keys()
    for name in cpu:
        assert gpu[name].is_cuda and gpu[name].shape == cpu[name].shape and gpu[name].dtype == cpu[name].dtype
    indices, count = _epoch_indices(gpu_loader)
    assert count == gpu_loader.batches_per_epoch - 1 and len(set(indices) | set(gpu["index"].tolist())) == 64


@pytest.mark.gpu
def test_gpu_tiles_come_from_the_cells(square_dataset, square_pixels):
    from fixtures_pipelines import to_pixels

    options = {"tile_crop_scale": (1.0, 1.0), "augment_tiles": False, "permutations": 100}
    batch = next(iter(build_loader("jigsaw", square_dataset, batch_size=4, device="gpu", options=options)))
    tiles = to_pixels(batch["tiles"])
    for b, index in enumerate(batch["index"].tolist()):
        for j, cell in enumerate(batch["perm"][b].tolist()):
            # nvJPEG may round differently from libjpeg-turbo: allow a small difference
            row, col = divmod(cell, 3)
            region = square_pixels[index][row * 85 : (row + 1) * 85, col * 85 : (col + 1) * 85].astype(int)
            best = min(
                abs(region[dy : dy + 64, dx : dx + 64] - tiles[b, j].astype(int)).mean()
                for dy in range(22) for dx in range(22)
            )
            assert best < 3, (index, j, cell, best)


@pytest.mark.gpu
def test_gpu_resume_yields_the_next_batch(image_dataset):
    kwargs = dict(batch_size=8, seed=3, device="gpu")
    loader = build_loader("pirl", image_dataset, **kwargs)
    stream = iter(loader)
    next(stream)
    state = loader.checkpoint()
    want = next(stream)
    have = next(iter(build_loader("pirl", image_dataset, checkpoint=state, **kwargs)))
    for name in want:
        assert torch.equal(want[name], have[name]), name


FAMILY_OPTIONS = {
    "image": {"image_size": 16},
    "pirl": {"image_size": 16, "tile_crop_px": 48, "tile_px": 12},
    "pirl_rotation": {"image_size": 16, "tile_crop_px": 48, "tile_px": 12},
    "jigsaw": {"tile_crop_px": 48, "tile_px": 12, "permutations": 10},
    "rotation": {"image_size": 16, "all_rotations": True},
    "jigsaw_rotation": {"tile_crop_px": 48, "tile_px": 12},
    "views": {"image_size": 16, "small_views": 1, "small_size": 8},
    "center_crop": {"image_size": 16},
}


@pytest.mark.parametrize("pipeline", sorted(FAMILY_OPTIONS))
def test_every_family_resumes_mid_epoch_exactly(image_dataset, pipeline):
    from mmssl.pipelines.loader import FAMILIES

    assert set(FAMILY_OPTIONS) == {name for name, family in FAMILIES.items() if family.members == ("jpg",)}
    from fixtures_pipelines import assert_resumes_exactly

    assert_resumes_exactly(pipeline, image_dataset, 3, batch_size=6, seed=11, shard_id=0, num_shards=2,
                           options=FAMILY_OPTIONS[pipeline])
