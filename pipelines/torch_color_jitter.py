"""Colour jitter of a batch of images in torch, an independent draw per image, for steps that run after
DALI (the tracked patches are cut in the loader's torch step, so their jitter cannot be a DALI op).

The same strengths and order as `ops.color_jitter`: hue turn and saturation in YIQ space (greyscale is
saturation 0), then contrast around 128 and brightness, as DALI's brightness_contrast:
b * (128 + c * (x - 128)). Draws come from a caller's generator, so a
batch's jitter is a function of what the caller seeds it with.
"""

from __future__ import annotations

import math

import torch

from mmssl.pipelines.ops import ColorJitter

_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                           dtype=torch.float64)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
CONTRAST_CENTER = 128.0


def _factors(count: int, strength: float, generator: torch.Generator) -> torch.Tensor:
    """[count] factors uniform in [1 - strength, 1 + strength] (at least 0)."""
    return (1 + strength * (2 * torch.rand(count, generator=generator, dtype=torch.float64) - 1)).clamp_min(0)


def hsv_matrices(hue_turns: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] RGB -> RGB matrices: rotate I/Q by `hue_turns` (full turns) and scale them by `saturation`."""
    angle, saturation = 2 * math.pi * hue_turns.double(), saturation.double()
    cos, sin = torch.cos(angle) * saturation, torch.sin(angle) * saturation
    yiq = torch.zeros(len(angle), 3, 3, dtype=torch.float64)
    yiq[:, 0, 0] = 1
    yiq[:, 1, 1], yiq[:, 1, 2], yiq[:, 2, 1], yiq[:, 2, 2] = cos, -sin, sin, cos
    return _YIQ_TO_RGB @ yiq @ _RGB_TO_YIQ


def jitter_images(images: torch.Tensor, jitter: ColorJitter, generator: torch.Generator) -> torch.Tensor:
    """[B, H, W, 3] pixels in 0..255 (any float or uint8) -> float32 jittered pixels in 0..255."""
    count = images.shape[0]
    hue = jitter.hue * (2 * torch.rand(count, generator=generator, dtype=torch.float64) - 1)
    saturation = _factors(count, jitter.saturation, generator)
    grey = torch.rand(count, generator=generator, dtype=torch.float64) < jitter.grayscale_p
    saturation = torch.where(grey, torch.zeros_like(saturation), saturation)
    brightness = _factors(count, jitter.brightness, generator)
    contrast = _factors(count, jitter.contrast, generator)
    matrices = hsv_matrices(hue, saturation).to(device=images.device, dtype=torch.float32)
    pixels = torch.einsum("bij,bhwj->bhwi", matrices, images.float())
    scale = (brightness * contrast).to(device=images.device, dtype=torch.float32)[:, None, None, None]
    shift = (CONTRAST_CENTER * brightness * (1 - contrast)).to(device=images.device, dtype=torch.float32)[:, None, None, None]
    return (pixels * scale + shift).clamp(0, 255)
