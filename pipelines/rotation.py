"""Rotation prediction (Gidaris et al. 2018) and PIRL's Jigsaw+Rotation transform.

`rotation_graph` outputs image [B, 3, S, S] float32 normalised, rotated counter-clockwise by
label * 90 degrees (label in 0..3, the same as torch.rot90(view, label, dims=(1, 2))).
With `all_rotations` it outputs the four rotations image_0..image_3 of the same view; the loader
interleaves them into one batch of 4B. `jigsaw_rotation_graph` rotates the 255 crop first,
then tiles it: tiles, perm, rotation. The loader adds index and row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import nvidia.dali.fn as fn
import nvidia.dali.types as types

from mmssl.pipelines import ops
from mmssl.pipelines.jigsaw import TileConfig, tile_square, tiles_from_square
from mmssl.pipelines.pirl import ViewConfig

ROTATION_OUTPUTS = ("image", "label")
ALL_ROTATIONS_OUTPUTS = ("image_0", "image_1", "image_2", "image_3")
JIGSAW_ROTATION_OUTPUTS = ("tiles", "perm", "rotation")
NUM_ROTATIONS = 4


@dataclass(frozen=True)
class RotationConfig(ViewConfig):
    all_rotations: bool = False  # all four rotations of each sample in the batch (B becomes 4B)


def random_quarter_turns():
    return fn.random.choice(NUM_ROTATIONS)


def rotated_normalized(view, quarter_turns, mirror):
    """The view, mirrored if `mirror`, then turned: one transpose (odd turns), one row flip, and the
    column flip done by crop_mirror_normalize."""
    turned, flip_rows, flip_columns = ops.rotate_quarter_turns(view, quarter_turns, mirror)
    return ops.normalize(fn.flip(turned, vertical=flip_rows, horizontal=0), mirror=flip_columns)


def rotation_graph(members: dict, cfg: RotationConfig, device: str):
    """Needs a pipeline with enable_conditionals=True (see ops.rotate_quarter_turns)."""
    view = ops.random_resized_crop(ops.decode(members["jpg"], device), cfg.image_size, cfg.image_scale)
    mirror = None
    if cfg.augment_image:
        view, mirror = ops.color_jitter(view, cfg.image_color), ops.flip_coin()
    if cfg.all_rotations:
        turns = [types.Constant(np.int32(k)) for k in range(NUM_ROTATIONS)]
        return tuple(rotated_normalized(view, k, mirror) for k in turns)
    label = random_quarter_turns()
    return rotated_normalized(view, label, mirror), label


def jigsaw_rotation_graph(members: dict, cfg: TileConfig, device: str, permutations: np.ndarray | None):
    """Needs a pipeline with enable_conditionals=True."""
    square = tile_square(ops.decode(members["jpg"], device), cfg)
    rotation = random_quarter_turns()
    turned, flip_rows, flip_columns = ops.rotate_quarter_turns(square, rotation)
    turned = fn.flip(turned, vertical=flip_rows, horizontal=flip_columns)
    tiles, perm, _ = tiles_from_square(turned, cfg, permutations)
    return tiles, perm, rotation
