"""Jigsaw tiles (Noroozi & Favaro 2016) and the Jigsaw pretext pipeline.

A random resized crop of `tile_crop_px` (255) is cut into a `tile_grid` x `tile_grid` grid of cells
(85 px); from each cell a `tile_px` (64) tile at a random offset, then the tiles are shuffled.
Perm convention: tiles[b, j] is cell perm[b, j] of the grid, cells numbered row-major
(cell c is row c // grid, column c % grid). Each tile is augmented on its own (flip, colour).

Outputs of `jigsaw_graph`: tiles [B, 9, 3, 64, 64] float32 normalised, perm [B, 9],
label [B] (the row of the permutation set); the loader adds index and row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mmssl.data.permutations import MAX_ENUMERATED_TILES, check_method, load_permutations
from mmssl.pipelines import ops

JIGSAW_OUTPUTS = ("tiles", "perm", "label")


@dataclass(frozen=True)
class TileConfig:
    """How tiles are cut and augmented. `permutations`: K for a Hamming set, None for all n!.
    `permutation_method`: how the set is chosen, "max_avg" (the paper's) or "max_min" (see
    mmssl/data/permutations.py)."""

    tile_crop_px: int = 255
    tile_crop_scale: tuple[float, float] = (0.6, 1.0)
    tile_grid: int = 3
    tile_px: int = 64
    tile_jitter: bool = True  # random tile offset inside its cell (else centred)
    augment_tiles: bool = True  # per-tile flip and colour jitter
    tile_flip: bool = True  # with augment_tiles: mirror each tile at random (Noroozi & Favaro's tiles are not)
    tile_color: ops.ColorJitter = field(default_factory=ops.ColorJitter)
    permutations: int | None = None
    permutation_seed: int = 0
    permutation_method: str = "max_min"

    def __post_init__(self):
        object.__setattr__(self, "tile_crop_scale", ops.check_scale("tile_crop_scale", self.tile_crop_scale))
        check_method(self.permutation_method)
        if self.tile_grid < 2 or self.tile_crop_px % self.tile_grid:
            raise ValueError(
                f"tile_crop_px ({self.tile_crop_px}) must split evenly into tile_grid ({self.tile_grid} >= 2) cells"
            )
        if not 0 < self.tile_px <= self.cell_px:
            raise ValueError(f"tile_px must be in 1..{self.cell_px} (the cell size), got {self.tile_px}")
        if self.permutations is None and self.num_tiles > MAX_ENUMERATED_TILES:
            raise ValueError(f"{self.num_tiles} tiles: give permutations=K (a Hamming set), all n! is too many")
        if self.permutations is not None and not 1 <= self.permutations <= math.factorial(self.num_tiles):
            raise ValueError(f"permutations must be in 1..{math.factorial(self.num_tiles)}, got {self.permutations}")

    @property
    def num_tiles(self) -> int:
        return self.tile_grid * self.tile_grid

    @property
    def cell_px(self) -> int:
        return self.tile_crop_px // self.tile_grid

    def permutation_set(self) -> np.ndarray | None:
        if self.permutations is None:
            return None
        return load_permutations(self.permutations, self.num_tiles, self.permutation_seed, self.permutation_method)


@dataclass(frozen=True)
class JigsawConfig(TileConfig):
    permutations: int | None = 1000

    def __post_init__(self):
        if self.permutations is None:
            raise ValueError("the Jigsaw pretext classifies permutations: give permutations=K (e.g. 100, 1000, 2000)")
        super().__post_init__()


def tiles_from_square(square, cfg: TileConfig, permutations: np.ndarray | None):
    """Tiles (normalised FCHW), perm and label (None without a set) from a square HWC crop."""
    cells = ops.grid_cells(square, cfg.tile_grid, cfg.cell_px)
    tiles = ops.cut_tiles(cells, cfg.num_tiles, cfg.cell_px, cfg.tile_px, cfg.tile_jitter,
                          flip=cfg.augment_tiles and cfg.tile_flip)
    if permutations is None:
        perm, label = ops.random_permutation(cfg.num_tiles), None
    else:
        perm, label = ops.permutation_from_set(permutations)
    tiles = ops.shuffle_tiles(tiles, perm)
    if cfg.augment_tiles:
        tiles = ops.color_jitter(tiles, cfg.tile_color, frames=cfg.num_tiles)
    return ops.normalize(tiles, sequence=True), perm, label


def tile_square(images, cfg: TileConfig):
    return ops.random_resized_crop(images, cfg.tile_crop_px, cfg.tile_crop_scale)


def jigsaw_graph(members: dict, cfg: JigsawConfig, device: str, permutations: np.ndarray):
    images = ops.decode(members["jpg"], device)
    return tiles_from_square(tile_square(images, cfg), cfg, permutations)
