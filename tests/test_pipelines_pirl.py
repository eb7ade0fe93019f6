"""PIRL batches: the documented shapes and dtypes, correct normalisation, perms from all of 9!."""

import numpy as np
import pytest
import torch

from fixtures_pipelines import SOLID_COLOURS, decoded_images, tile_offsets, to_pixels
from mmssl.pipelines.loader import build_loader
from mmssl.pipelines.ops import IMAGENET_MEAN, IMAGENET_STD
from mmssl.pipelines.pirl import PirlConfig


def test_shapes_and_dtypes(image_dataset):
    loader = build_loader("pirl", image_dataset, batch_size=6, seed=1)
    batch = next(iter(loader))
    assert set(batch) == {"image", "tiles", "perm", "index", "row"}
    assert batch["image"].shape == (6, 3, 224, 224) and batch["image"].dtype == torch.float32
    assert batch["tiles"].shape == (6, 9, 3, 64, 64) and batch["tiles"].dtype == torch.float32
    assert batch["perm"].shape == (6, 9) and batch["perm"].dtype == torch.int64
    assert batch["index"].shape == (6,) and batch["index"].dtype == torch.int64
    assert (batch["perm"].sort(dim=1).values == torch.arange(9)).all()


def test_normalisation_matches_imagenet_statistics(solid_dataset):
    """Solid colours: every pixel of the un-augmented view must be (c/255 - mean) / std, c as decoded."""
    decoded = decoded_images(solid_dataset)
    loader = build_loader("pirl", solid_dataset, batch_size=4, options={"augment_image": False, "augment_tiles": False})
    batch = next(iter(loader))
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(3, 1, 1)
    for b, index in enumerate(batch["index"].tolist()):
        pixels = decoded[index].reshape(-1, 3)
        assert (pixels == pixels[0]).all() and np.abs(pixels[0] - SOLID_COLOURS[index]).max() <= 3
        colour = torch.tensor(pixels[0], dtype=torch.float64).view(3, 1, 1) / 255
        expected = ((colour - mean) / std).float()
        assert torch.allclose(batch["image"][b], expected.expand(3, 224, 224), atol=1e-5)
        assert torch.allclose(batch["tiles"][b], expected.expand(9, 3, 64, 64), atol=1e-5)


def test_augmented_view_statistics_stay_in_range(image_dataset):
    batch = next(iter(build_loader("pirl", image_dataset, batch_size=16, seed=2)))
    low = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    high = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    per_channel = batch["image"].transpose(0, 1).flatten(1)
    assert (per_channel.min(dim=1).values >= torch.tensor(low, dtype=torch.float32) - 1e-4).all()
    assert (per_channel.max(dim=1).values <= torch.tensor(high, dtype=torch.float32) + 1e-4).all()
    grayscale = (batch["image"][:, 0] - batch["image"][:, 1]).abs().amax(dim=(1, 2)) < 0.05
    assert not grayscale.all()  # colour survives in most views (grayscale p=0.2)


def test_perms_are_drawn_from_all_permutations(image_dataset):
    loader = build_loader("pirl", image_dataset, batch_size=32, seed=4, options={"image_size": 32})
    perms = torch.cat([batch["perm"] for batch in loader])
    assert len({tuple(p) for p in perms.tolist()}) == len(perms)  # 64 draws from 9!: no repeats expected
    first = torch.bincount(perms[:, 0], minlength=9)
    assert (first > 0).sum() >= 7  # every cell can come first


def test_tiles_come_from_the_tile_crop(square_dataset, square_pixels):
    options = {"tile_crop_scale": (1.0, 1.0), "augment_tiles": False}
    batch = next(iter(build_loader("pirl", square_dataset, batch_size=4, seed=3, options=options)))
    tiles = to_pixels(batch["tiles"])
    for b, index in enumerate(batch["index"].tolist()):
        for j, cell in enumerate(batch["perm"][b].tolist()):
            assert tile_offsets(tiles[b, j], square_pixels[index], cell)


def test_bad_options_raise_with_the_valid_names(image_dataset):
    with pytest.raises(ValueError, match="unknown option.*num_views.*valid options"):
        build_loader("pirl", image_dataset, batch_size=2, options={"num_views": 2})
    with pytest.raises(ValueError, match="image_scale"):
        PirlConfig(image_scale=(0.5, 2.0))
