"""Jigsaw tiles: tile j really is a 64 px window of cell perm[j] of the 255 crop; labels index the set."""

import numpy as np
import pytest
import torch

from fixtures_pipelines import tile_offsets, to_pixels
from mmssl.pipelines.jigsaw import JigsawConfig, TileConfig
from mmssl.pipelines.loader import build_loader

WHOLE_IMAGE = {"tile_crop_scale": (1.0, 1.0)}  # the 255 crop of a 255x255 image is the image itself
NO_COLOUR = {"brightness": 0, "contrast": 0, "saturation": 0, "hue": 0, "grayscale_p": 0}


def _batch(pipeline, data_dir, **options):
    loader = build_loader(pipeline, data_dir, batch_size=8, seed=5, options={**WHOLE_IMAGE, **options})
    return next(iter(loader))


@pytest.mark.parametrize("jitter", [True, False])
def test_tiles_come_from_the_cells_perm_names(square_dataset, square_pixels, jitter):
    batch = _batch("jigsaw", square_dataset, permutations=100, augment_tiles=False, tile_jitter=jitter)
    tiles = to_pixels(batch["tiles"])
    offsets = set()
    for b, index in enumerate(batch["index"].tolist()):
        perm = batch["perm"][b].tolist()
        assert sorted(perm) == list(range(9))
        for j, cell in enumerate(perm):
            found = tile_offsets(tiles[b, j], square_pixels[index], cell)
            assert found, f"tile {j} of sample {index} is not a window of cell {cell}"
            assert all(not mirrored for *_, mirrored in found)
            offsets.update((dx, dy) for dx, dy, _ in found)
            other = (cell + 1) % 9
            assert not tile_offsets(tiles[b, j], square_pixels[index], other)
    assert offsets == {(10, 10)} if not jitter else len(offsets) > 20


def test_tile_augmentation_flips_tiles_independently(square_dataset, square_pixels):
    batch = _batch("jigsaw", square_dataset, permutations=100, augment_tiles=True, tile_color=NO_COLOUR)
    tiles = to_pixels(batch["tiles"])
    mirrored_per_sample = []
    for b, index in enumerate(batch["index"].tolist()):
        flags = []
        for j, cell in enumerate(batch["perm"][b].tolist()):
            found = tile_offsets(tiles[b, j], square_pixels[index], cell)
            assert found
            flags.append(found[0][2])
        mirrored_per_sample.append(flags)
    flags = np.array(mirrored_per_sample)
    assert 0.2 < flags.mean() < 0.8 and (flags.any(axis=1) & ~flags.all(axis=1)).any()


def test_tile_flip_off_keeps_every_augmented_tile_unmirrored(square_dataset, square_pixels):
    """`tile_flip=False` (Jigsaw's embedded default): tiles still augmented, none mirrored."""
    batch = _batch("jigsaw", square_dataset, permutations=100, augment_tiles=True, tile_color=NO_COLOUR,
                   tile_flip=False)
    tiles = to_pixels(batch["tiles"])
    for b, index in enumerate(batch["index"].tolist()):
        for j, cell in enumerate(batch["perm"][b].tolist()):
            found = tile_offsets(tiles[b, j], square_pixels[index], cell)
            assert found and all(not mirrored for *_, mirrored in found), (index, j, found)


def test_label_is_the_row_of_the_permutation_set(square_dataset):
    loader = build_loader("jigsaw", square_dataset, batch_size=8, options={"permutations": 100})
    table = torch.as_tensor(loader.cfg.permutation_set())
    labels = []
    for batch in loader:
        assert batch["tiles"].shape == (8, 9, 3, 64, 64) and batch["tiles"].dtype == torch.float32
        assert torch.equal(batch["perm"], table[batch["label"]])
        labels += batch["label"].tolist()
    assert all(0 <= label < 100 for label in labels) and len(set(labels)) > 8


def test_tile_colour_jitter_changes_tiles_independently(square_dataset):
    batch = _batch("jigsaw", square_dataset, permutations=100, augment_tiles=True)
    tiles = batch["tiles"]
    mean_per_tile = tiles.mean(dim=(2, 3, 4))
    assert mean_per_tile.std(dim=1).min() > 0  # tiles of one sample differ
    assert tiles.isfinite().all()


def test_config_validation_names_the_problem():
    with pytest.raises(ValueError, match="permutations=K"):
        JigsawConfig(permutations=None)
    with pytest.raises(ValueError, match="split evenly"):
        TileConfig(tile_crop_px=256)
    with pytest.raises(ValueError, match="tile_px must be in 1..85"):
        TileConfig(tile_px=90)
    with pytest.raises(ValueError, match="tile_crop_scale"):
        TileConfig(tile_crop_scale=(0.0, 1.0))
