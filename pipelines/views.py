"""Independently augmented views for contrastive methods (SimCLR, MoCo) and multi-crop (SwAV).

Outputs of `views_graph`: view_0 .. view_{N-1}, each [B, 3, S, S] float32 normalised (the
`num_views` large views first, then `small_views` of `small_size`); the loader adds index and row.
Per view: random resized crop, flip, colour jitter with probability `color_p`, grayscale, Gaussian
blur with probability `blur_p`, solarize with probability `solarize_p`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nvidia.dali.fn as fn
import nvidia.dali.types as types

from mmssl.pipelines import ops


@dataclass(frozen=True)
class ViewsConfig:
    num_views: int = 2
    image_size: int = 224
    image_scale: tuple[float, float] = (0.08, 1.0)
    small_views: int = 0  # multi-crop: extra low-resolution views
    small_size: int = 96
    small_scale: tuple[float, float] = (0.05, 0.14)
    augment: bool = True
    color: ops.ColorJitter = field(default_factory=lambda: ops.ColorJitter(0.4, 0.4, 0.4, 0.1, 0.2))
    color_p: float = 0.8
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0

    def __post_init__(self):
        if self.num_views < 1 or self.small_views < 0:
            raise ValueError(f"need num_views >= 1 and small_views >= 0, got {self.num_views}, {self.small_views}")
        object.__setattr__(self, "image_scale", ops.check_scale("image_scale", self.image_scale))
        object.__setattr__(self, "small_scale", ops.check_scale("small_scale", self.small_scale))
        for name in ("color_p", "blur_p", "solarize_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"blur_sigma must be 0 < low <= high, got {self.blur_sigma}")

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(f"view_{i}" for i in range(self.num_views + self.small_views))


def _mix(changed, original, apply):
    """`changed` where the per-sample coin `apply` is 1, else `original` (both uint8)."""
    weight = fn.cast(apply, dtype=types.FLOAT)
    if changed.device == "gpu":
        weight = weight.gpu()  # arithmetic needs all its tensor inputs on one device
    return fn.cast(changed * weight + original * (1.0 - weight), dtype=types.UINT8)


def blur(images, cfg: ViewsConfig, size: int):
    """Gaussian blur with sigma in blur_sigma, kernel ~10% of the view (SimCLR), with probability blur_p."""
    window = (size // 10) | 1
    sigma = fn.random.uniform(range=list(cfg.blur_sigma))
    blurred = fn.gaussian_blur(images, sigma=sigma, window_size=window)
    return _mix(blurred, images, ops.flip_coin(cfg.blur_p))


def solarize(images, probability: float):
    """Invert pixels >= 128, with probability `probability` per sample."""
    pixels = fn.cast(images, dtype=types.FLOAT)
    solarized = pixels + fn.cast(pixels >= 128.0, dtype=types.FLOAT) * (255.0 - 2.0 * pixels)
    return _mix(solarized, images, ops.flip_coin(probability))


def one_view(images, cfg: ViewsConfig, size: int, scale: tuple[float, float]):
    view = ops.random_resized_crop(images, size, scale)
    if not cfg.augment:
        return ops.normalize(view)
    view = ops.color_jitter(view, cfg.color, probability=cfg.color_p)
    if cfg.blur_p > 0:
        view = blur(view, cfg, size)
    if cfg.solarize_p > 0:
        view = solarize(view, cfg.solarize_p)
    return ops.normalize(view, mirror=ops.flip_coin())


def views_graph(members: dict, cfg: ViewsConfig, device: str):
    images = ops.decode(members["jpg"], device)
    large = [one_view(images, cfg, cfg.image_size, cfg.image_scale) for _ in range(cfg.num_views)]
    small = [one_view(images, cfg, cfg.small_size, cfg.small_scale) for _ in range(cfg.small_views)]
    return (*large, *small)
