"""Torch colour jitter of tracked patches: the YIQ formulas in float64, and one draw per image."""

import torch

from mmssl.pipelines.ops import ColorJitter
from mmssl.pipelines.torch_color_jitter import hsv_matrices, jitter_images

LUMA = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)


def _images(count: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (count, 8, 8, 3), generator=torch.Generator().manual_seed(seed)).double()


def test_no_strength_is_identity():
    images = _images()
    none = ColorJitter(brightness=0, contrast=0, saturation=0, hue=0, grayscale_p=0)
    out = jitter_images(images, none, torch.Generator().manual_seed(0))
    assert (out.double() - images).abs().max() < 1e-3


def test_greyscale_is_the_luma_in_every_channel():
    images = _images()
    grey = ColorJitter(brightness=0, contrast=0, saturation=0, hue=0.5, grayscale_p=1.0)
    out = jitter_images(images, grey, torch.Generator().manual_seed(0)).double()
    luma = (images @ LUMA)[..., None].expand_as(images)
    assert (out - luma.clamp(0, 255)).abs().max() < 1e-3


def test_hue_turns_compose_and_keep_luma():
    quarter = hsv_matrices(torch.tensor([0.25]), torch.tensor([1.0]))[0]
    assert torch.allclose(torch.linalg.matrix_power(quarter, 4), torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(LUMA @ quarter, LUMA, atol=1e-12)  # a hue turn leaves brightness (Y) alone
    half = hsv_matrices(torch.tensor([0.5]), torch.tensor([1.0]))[0]
    assert not torch.allclose(half, torch.eye(3, dtype=torch.float64), atol=0.1)


def test_brightness_and_contrast_follow_dali_formula():
    """b * (128 + c * (x - 128)), with b and c each in [1 - s, 1 + s]; a constant image shows both."""
    images = torch.full((64, 2, 2, 3), 200.0, dtype=torch.float64)
    jitter = ColorJitter(brightness=0.4, contrast=0.4, saturation=0, hue=0, grayscale_p=0)
    out = jitter_images(images, jitter, torch.Generator().manual_seed(3)).double()[:, 0, 0, 0]
    low, high = 0.6 * (128 + 0.6 * 72), 1.4 * (128 + 1.4 * 72)
    assert (out >= low - 1e-3).all() and (out <= min(high, 255) + 1e-3).all()
    assert out.unique().numel() > 32  # every image draws its own factors


def test_each_image_gets_its_own_draw_and_a_seed_repeats_it():
    images = _images(1).repeat(8, 1, 1, 1)
    jitter = ColorJitter(hue=0.5, grayscale_p=0.0)
    first = jitter_images(images, jitter, torch.Generator().manual_seed(7))
    again = jitter_images(images, jitter, torch.Generator().manual_seed(7))
    assert torch.equal(first, again)
    assert (first[1:] - first[:1]).abs().flatten(1).amax(dim=1).min() > 1  # no two alike
