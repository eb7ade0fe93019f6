"""How invariant a representation is to a pretext transform (PIRL paper, section 5.1).

For each image: the L2 distance between the L2-normalised representation of the image and of its
transformed version. PIRL is trained to make it small for Jigsaw shuffles; a Jigsaw-pretext network
is trained to tell shuffles apart, so its distances are larger. 0 means invariant, 2 means opposite.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

TRANSFORMS = ("jigsaw", "rotation", "identity")
GRID = 3  # Jigsaw's 3 x 3 tiles


def jigsaw_shuffle(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images [B, C, S, S] cut into 3 x 3 tiles and reassembled in a random non-identity order per image
    (S is first cropped to a multiple of 3, centred)."""
    side = images.shape[-1] // GRID * GRID
    offset = (images.shape[-1] - side) // 2
    images = images[..., offset:offset + side, offset:offset + side]
    tile = side // GRID
    tiles = images.unfold(2, tile, tile).unfold(3, tile, tile)  # [B, C, 3, 3, t, t]
    tiles = tiles.reshape(*images.shape[:2], GRID * GRID, tile, tile)
    shuffled = torch.empty_like(tiles)
    for number in range(images.shape[0]):
        order = torch.randperm(GRID * GRID, generator=generator)
        while bool((order == torch.arange(GRID * GRID)).all()):
            order = torch.randperm(GRID * GRID, generator=generator)
        shuffled[number] = tiles[number, :, order]
    grid = shuffled.reshape(*images.shape[:2], GRID, GRID, tile, tile).permute(0, 1, 2, 4, 3, 5)
    return grid.reshape(*images.shape[:2], side, side)


def rotate(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image turned by 90, 180 or 270 degrees (drawn per image)."""
    turns = torch.randint(1, 4, (images.shape[0],), generator=generator)
    return torch.stack([torch.rot90(image, int(k), dims=(1, 2)) for image, k in zip(images, turns)])


def shuffled_tiles(images: torch.Tensor, tile_px: int, generator: torch.Generator) -> torch.Tensor:
    """Images [B, C, S, S] -> their 3 x 3 tiles in a random non-identity order per image, each resized
    to `tile_px`: [B, 9, C, tile_px, tile_px], the input of PIRL's tile path."""
    shuffled = jigsaw_shuffle(images, generator)
    tile = shuffled.shape[-1] // GRID
    tiles = shuffled.unfold(2, tile, tile).unfold(3, tile, tile)  # [B, C, 3, 3, t, t]
    tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, images.shape[1], tile, tile)
    tiles = F.interpolate(tiles, size=(tile_px, tile_px), mode="bilinear", align_corners=False, antialias=True)
    return tiles.reshape(images.shape[0], GRID * GRID, images.shape[1], tile_px, tile_px)


def pirl_head_distances(network, batches, tile_px: int, seed: int = 0) -> np.ndarray:
    """PIRL's own pair (the paper's measurement): normalised f(v_I) of each image against g(v_It) of
    its shuffled tiles, with the network in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    was_training = network.training
    network.eval()
    distances = []
    try:
        with torch.no_grad():
            for images in batches:
                image_embedding, tile_embedding = network(images, shuffled_tiles(images, tile_px, generator))
                distances.append((F.normalize(image_embedding.float(), dim=1)
                                  - F.normalize(tile_embedding.float(), dim=1)).norm(dim=1))
    finally:
        network.train(was_training)
    return torch.cat(distances).numpy()


def transform_images(images: torch.Tensor, transform: str, generator: torch.Generator) -> torch.Tensor:
    if transform == "jigsaw":
        return jigsaw_shuffle(images, generator)
    if transform == "rotation":
        return rotate(images, generator)
    if transform == "identity":
        return images
    raise ValueError(f"unknown transform {transform!r}; choose one of {TRANSFORMS}")


def invariance_distances(features: Callable[[torch.Tensor], torch.Tensor], batches, transform: str,
                         seed: int = 0) -> np.ndarray:
    """L2 distance between normalised `features` of each image and of its `transform`ed version."""
    generator = torch.Generator().manual_seed(seed)
    distances = []
    with torch.no_grad():
        for images in batches:
            original = F.normalize(features(images).float(), dim=1)
            changed = F.normalize(features(transform_images(images, transform, generator)).float(), dim=1)
            distances.append((original - changed).norm(dim=1))
    return torch.cat(distances).numpy()


@dataclass(frozen=True)
class DistanceSummary:
    count: int
    mean: float
    median: float
    std: float
    p10: float
    p90: float

    @classmethod
    def of(cls, distances: np.ndarray) -> "DistanceSummary":
        values = np.asarray(distances, dtype=np.float64)
        return cls(int(values.size), float(values.mean()), float(np.median(values)), float(values.std()),
                   float(np.percentile(values, 10)), float(np.percentile(values, 90)))

    def as_dict(self) -> dict:
        return asdict(self)
