"""Graph pieces shared by the image pipelines: decode, crops, fused colour jitter, tiles, rotations.

Written for speed on CPU as well as GPU: colour jitter is one `fn.hsv` (hue, saturation and random
grayscale as saturation 0) plus one `fn.brightness_contrast` on uint8 pixels (measured cheaper than
recolouring the float output in torch); the 9 Jigsaw tiles are one 9-frame
sequence cut by a single `fn.warp_affine` with per-frame matrices (offset jitter and flip folded in)
and augmented by per-frame arguments, so a batch costs a handful of ops, not 36 per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import nvidia.dali.fn as fn
import nvidia.dali.types as types

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ASPECT_RATIO = (3 / 4, 4 / 3)  # random resized crop, as torchvision's default


@dataclass(frozen=True)
class ColorJitter:
    """torchvision-style strengths: brightness/contrast/saturation factors in [1-s, 1+s], hue in [-h, h] turns."""

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.2
    grayscale_p: float = 0.2

    def __post_init__(self):
        for name in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"color jitter {name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.hue <= 0.5:
            raise ValueError(f"color jitter hue must be in [0, 0.5], got {self.hue}")
        if not 0 <= self.grayscale_p <= 1:
            raise ValueError(f"grayscale_p must be a probability, got {self.grayscale_p}")


def check_scale(name: str, scale: tuple[float, float]) -> tuple[float, float]:
    """Validate a crop area range (fractions of the image) and return it as a tuple."""
    low, high = scale
    if not 0 < low <= high <= 1:
        raise ValueError(f"{name} must satisfy 0 < low <= high <= 1, got {scale}")
    return (float(low), float(high))


def decode(jpegs, device: str):
    """RGB HWC uint8; nvJPEG ("mixed") on the GPU, libjpeg-turbo on the CPU."""
    return fn.decoders.image(jpegs, device="mixed" if device == "gpu" else "cpu", output_type=types.RGB)


def random_resized_crop(images, size: int, scale: tuple[float, float]):
    """A random crop of `scale` of the area (aspect 3/4..4/3) resized to size x size.

    No antialiasing: it costs about 25% more resize work on CPU, and these crops are mostly upscaled
    (the 224 view) or downscaled by less than 2x (the 255 tile crop of a ~500 px image).
    """
    return fn.random_resized_crop(
        images, size=[size, size], random_area=list(scale), random_aspect_ratio=list(ASPECT_RATIO), antialias=False
    )


def color_jitter(images, jitter: ColorJitter, frames: int | None = None, probability: float = 1.0):
    """Random brightness, contrast, saturation, hue and grayscale; per frame when `frames` is given.

    With `probability` < 1 the jitter (not the grayscale) applies to that share of images, as
    SimCLR's RandomApply(ColorJitter, p): the factors of the others are 1 and the hue shift 0.

    Grayscale is saturation 0 (the luma of the YIQ space `fn.hsv` works in), so it costs no extra op.
    Contrast scales around mid-grey (128) rather than the image mean torchvision uses. Strengths of 0
    leave their argument (or the whole op) out.
    """
    shape = [frames] if frames else None
    wrap = fn.per_frame if frames else (lambda node: node)

    applied = fn.cast(fn.random.coin_flip(probability=probability, shape=shape), dtype=types.FLOAT) if probability < 1 else 1.0

    def factor(strength: float):
        return fn.random.uniform(range=[-strength, strength], shape=shape) * applied + 1.0

    hsv_args = {}
    if jitter.hue > 0:
        hsv_args["hue"] = fn.random.uniform(range=[-360 * jitter.hue, 360 * jitter.hue], shape=shape) * applied
    if jitter.saturation > 0 or jitter.grayscale_p > 0:
        saturation = factor(jitter.saturation) if jitter.saturation > 0 else 1.0
        if jitter.grayscale_p > 0:
            keep = fn.random.coin_flip(probability=1 - jitter.grayscale_p, shape=shape)
            saturation = saturation * fn.cast(keep, dtype=types.FLOAT)
        hsv_args["saturation"] = saturation
    if hsv_args:
        images = fn.hsv(images, **{k: wrap(v) for k, v in hsv_args.items()})
    bc_args = {k: wrap(factor(s)) for k, s in (("brightness", jitter.brightness), ("contrast", jitter.contrast)) if s > 0}
    if bc_args:
        images = fn.brightness_contrast(images, contrast_center=128, **bc_args)
    return images


def normalize(images, mirror=None, sequence: bool = False):
    """uint8 HWC (or FHWC) to float CHW (FCHW) normalised with ImageNet statistics."""
    return fn.crop_mirror_normalize(
        images,
        dtype=types.FLOAT,
        output_layout="FCHW" if sequence else "CHW",
        mean=[255 * m for m in IMAGENET_MEAN],
        std=[255 * s for s in IMAGENET_STD],
        mirror=mirror if mirror is not None else 0,
    )


def flip_coin(probability: float = 0.5, shape=None):
    return fn.random.coin_flip(probability=probability, shape=shape)


def grid_cells(square, grid: int, cell_px: int):
    """A (grid*cell_px)^2 HWC image as a grid^2-frame sequence of its cells, row-major (FHWC)."""
    cells = fn.reshape(square, shape=[grid, cell_px, grid, cell_px, 3])
    cells = fn.transpose(cells, perm=[0, 2, 1, 3, 4])
    return fn.reshape(cells, shape=[grid * grid, cell_px, cell_px, 3], layout="FHWC")


def cut_tiles(cells, num_tiles: int, cell_px: int, tile_px: int, jitter: bool, flip: bool):
    """One tile_px square per cell at a random offset (or centred), optionally mirrored, in ONE op.

    The per-frame inverse affine maps an output pixel (x, y) to (offset_x + x, offset_y + y), or
    to (offset_x + tile_px - x, ...) when flipped; nearest-neighbour sampling keeps pixels exact.
    """
    slack = cell_px - tile_px
    if jitter:
        offset_x = fn.cast(fn.random.choice(slack + 1, shape=[num_tiles]), dtype=types.FLOAT)
        offset_y = fn.cast(fn.random.choice(slack + 1, shape=[num_tiles]), dtype=types.FLOAT)
    else:
        centre = float(slack // 2)
        offset_x = offset_y = types.Constant(np.full([num_tiles], centre, np.float32))
    if flip:
        mirrored = fn.cast(flip_coin(0.5, shape=[num_tiles]), dtype=types.FLOAT)
        scale_x = 1.0 - 2.0 * mirrored
        offset_x = offset_x + mirrored * float(tile_px)
    else:
        scale_x = offset_x * 0.0 + 1.0
    zero = offset_x * 0.0
    one = zero + 1.0
    matrix = fn.stack(fn.stack(scale_x, zero, offset_x, axis=1), fn.stack(zero, one, offset_y, axis=1), axis=1)
    return fn.warp_affine(
        cells, matrix=fn.per_frame(matrix), size=[tile_px, tile_px], interp_type=types.INTERP_NN, inverse_map=True
    )


def random_permutation(num_tiles: int):
    """A uniformly random permutation of 0..num_tiles-1 (int32), drawn from all num_tiles! by Fisher-Yates.

    Each step swaps position i with a random j <= i; the swap is a gather on a tiny sequence
    (`fn.sequence_rearrange`), so no n!-row table is needed in the graph.
    """
    order = fn.reshape(types.Constant(np.arange(num_tiles, dtype=np.int32)), shape=[num_tiles, 1], layout="FX")
    for i in range(num_tiles - 1, 0, -1):
        swaps = np.tile(np.arange(num_tiles, dtype=np.int32), (i + 1, 1))
        for j in range(i + 1):
            swaps[j, i], swaps[j, j] = j, i
        order = fn.sequence_rearrange(order, new_order=types.Constant(swaps)[fn.random.choice(i + 1)])
    return fn.reshape(order, shape=[num_tiles])


def permutation_from_set(permutations: np.ndarray):
    """A row of `permutations` [K, n] drawn uniformly: (perm int32 [n], label int32 = its row)."""
    label = fn.random.choice(len(permutations))
    return types.Constant(permutations.astype(np.int32))[label], label


def shuffle_tiles(tiles, perm):
    """tiles[j] becomes cell perm[j] (row-major cell number): the project's perm convention."""
    return fn.sequence_rearrange(tiles, new_order=perm)


# np.rot90 by k (counter-clockwise) = transpose if k is odd, then flip rows if k in {1, 2}, columns if k in {2, 3}
_TRANSPOSED = np.array([False, True, False, True])
_ROWS_FLIPPED = np.array([False, True, True, False])
_COLUMNS_FLIPPED = np.array([False, False, True, True])


def rotate_quarter_turns(images, quarter_turns, mirror=None):
    """Square HWC images turned counter-clockwise by `quarter_turns` * 90 degrees (as torch.rot90).

    Exact and cheap: a transpose (only for odd turns, a DALI conditional) plus flips, no resampling.
    Returns (transposed images, flip_rows, flip_columns): the caller applies the flips, e.g. rows
    with fn.flip and columns as crop_mirror_normalize's mirror, to save a pass. With `mirror` (a
    per-sample coin) the result is the turn of the mirrored image, because mirroring after a turn
    by -k equals turning the mirrored image by k. Needs a pipeline with enable_conditionals=True.
    """
    turns = fn.cast(quarter_turns, dtype=types.INT32)
    if mirror is not None:
        mirrored = fn.cast(mirror, dtype=types.INT32)
        turns = turns + mirrored * (4 - 2 * turns)  # k, or 4 - k when mirrored ...
        turns = turns - 4 * fn.cast(turns >= 4, dtype=types.INT32)  # ... taken mod 4
    if types.Constant(_TRANSPOSED)[turns]:
        images = fn.transpose(images, perm=[1, 0, 2], transpose_layout=False)  # square: H and W swap freely
    flip_rows = fn.cast(types.Constant(_ROWS_FLIPPED)[turns], dtype=types.INT32)
    flip_columns = fn.cast(types.Constant(_COLUMNS_FLIPPED)[turns], dtype=types.INT32)
    if mirror is not None:
        flip_columns = flip_columns ^ fn.cast(mirror, dtype=types.INT32)
    return images, flip_rows, flip_columns
