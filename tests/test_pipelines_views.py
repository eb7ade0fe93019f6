"""Contrastive views: N independent views of the same sample; multi-crop sizes; blur and solarize work."""

import pytest
import torch

from mmssl.pipelines.loader import build_loader
from mmssl.pipelines.views import ViewsConfig


def test_views_are_independent_augmentations_of_one_sample(image_dataset):
    options = {"num_views": 3, "image_size": 64, "blur_p": 0.5, "solarize_p": 0.2}
    batch = next(iter(build_loader("views", image_dataset, batch_size=8, seed=1, options=options)))
    assert set(batch) == {"view_0", "view_1", "view_2", "index", "row"}
    for v in range(3):
        assert batch[f"view_{v}"].shape == (8, 3, 64, 64) and batch[f"view_{v}"].dtype == torch.float32
    assert not torch.equal(batch["view_0"], batch["view_1"])


def test_multi_crop_adds_small_views(image_dataset):
    options = {"num_views": 2, "small_views": 2, "image_size": 64, "small_size": 32}
    batch = next(iter(build_loader("views", image_dataset, batch_size=4, options=options)))
    assert [batch[f"view_{v}"].shape[-1] for v in range(4)] == [64, 64, 32, 32]


def test_unaugmented_views_of_the_whole_image_are_identical(square_dataset):
    options = {"augment": False, "image_scale": (1.0, 1.0), "image_size": 64}
    batch = next(iter(build_loader("views", square_dataset, batch_size=4, options=options)))
    assert torch.equal(batch["view_0"], batch["view_1"])


def test_solarize_inverts_bright_pixels(solid_dataset):
    """White solarized is black: with solarize_p=1 and no other change, white becomes 0."""
    options = {"image_scale": (1.0, 1.0), "image_size": 16, "color_p": 0.0, "blur_p": 0.0, "solarize_p": 1.0}
    batch = next(iter(build_loader("views", solid_dataset, batch_size=4, options=options)))
    white = batch["index"].tolist().index(1)  # SOLID_COLOURS[1] is white, [0] black
    black = batch["index"].tolist().index(0)
    assert torch.equal(batch["view_0"][white], batch["view_0"][black])


def test_config_validation():
    with pytest.raises(ValueError, match="blur_p must be a probability"):
        ViewsConfig(blur_p=1.5)
    with pytest.raises(ValueError, match="num_views >= 1"):
        ViewsConfig(num_views=0)
