"""PIRL with the combined Jigsaw+Rotation transform (the paper's Table 6): the transformed branch is
the square crop turned by a random multiple of 90 degrees, then cut into shuffled tiles.

Outputs of `pirl_rotation_graph`: image, tiles and perm as in `pirl_graph`, plus
rotation [B] (quarter turns, 0..3, counter-clockwise as `np.rot90`) applied before tiling.
"""

from __future__ import annotations

import numpy as np
from nvidia.dali import fn

from mmssl.pipelines import ops
from mmssl.pipelines.jigsaw import tile_square, tiles_from_square
from mmssl.pipelines.pirl import PirlConfig, augmented_view
from mmssl.pipelines.rotation import random_quarter_turns

PIRL_ROTATION_OUTPUTS = ("image", "tiles", "perm", "rotation")


def pirl_rotation_graph(members: dict, cfg: PirlConfig, device: str, permutations: np.ndarray | None):
    """Needs a pipeline with enable_conditionals=True."""
    images = ops.decode(members["jpg"], device)
    image = augmented_view(images, cfg)
    rotation = random_quarter_turns()
    turned, flip_rows, flip_columns = ops.rotate_quarter_turns(tile_square(images, cfg), rotation)
    tiles, perm, _ = tiles_from_square(fn.flip(turned, vertical=flip_rows, horizontal=flip_columns), cfg, permutations)
    return image, tiles, perm, rotation
