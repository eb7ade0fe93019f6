"""PIRL (Misra & van der Maaten 2020): an augmented view of the image and its Jigsaw-transformed tiles.

Outputs of `pirl_graph`: image [B, 3, 224, 224] float32 normalised (random resized crop
0.08-1, flip, colour jitter 0.4/0.4/0.4/0.2, grayscale 0.2), tiles [B, 9, 3, 64, 64] float32 (see
pipelines/jigsaw.py for the perm convention), perm [B, 9]; the loader adds index and row. The image
is decoded once and both branches crop from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmssl.pipelines import ops
from mmssl.pipelines.jigsaw import TileConfig, tile_square, tiles_from_square

PIRL_OUTPUTS = ("image", "tiles", "perm")


@dataclass(frozen=True)
class ViewConfig:
    """One augmented view: random resized crop, flip, colour jitter and grayscale (off when augment=False)."""

    image_size: int = 224
    image_scale: tuple[float, float] = (0.08, 1.0)
    augment_image: bool = True
    image_color: ops.ColorJitter = field(default_factory=ops.ColorJitter)

    def __post_init__(self):
        object.__setattr__(self, "image_scale", ops.check_scale("image_scale", self.image_scale))
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 px, got {self.image_size}")


@dataclass(frozen=True)
class PirlConfig(ViewConfig, TileConfig):
    def __post_init__(self):
        ViewConfig.__post_init__(self)
        TileConfig.__post_init__(self)


def augmented_view(images, cfg: ViewConfig):
    """Normalised CHW view of each image."""
    view = ops.random_resized_crop(images, cfg.image_size, cfg.image_scale)
    if not cfg.augment_image:
        return ops.normalize(view)
    view = ops.color_jitter(view, cfg.image_color)
    return ops.normalize(view, mirror=ops.flip_coin())


def pirl_graph(members: dict, cfg: PirlConfig, device: str, permutations: np.ndarray | None):
    images = ops.decode(members["jpg"], device)
    image = augmented_view(images, cfg)
    tiles, perm, _ = tiles_from_square(tile_square(images, cfg), cfg, permutations)
    return image, tiles, perm
