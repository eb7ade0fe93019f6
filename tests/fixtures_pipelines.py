"""Datasets for the image pipeline tests: square checkerboards, solid colours, and corrupt JPEGs."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from fixtures_media import checker_image, write_image_dataset
from mmssl.data.dataset_writer import DatasetWriter
from mmssl.pipelines.reader import ShardSet
from mmssl.pipelines.torch_reference import sample_locations

SOLID_COLOURS = [(0, 0, 0), (255, 255, 255), (200, 30, 90), (12, 140, 250)]
CORRUPT_INDICES = (7, 11)  # in corrupt_dataset: a truncated JPEG and one that is garbage after its SOI


def decoded_images(data_dir) -> dict[int, np.ndarray]:
    """{global index: RGB pixels as PIL decodes the stored JPEG} for every sample of `data_dir`."""
    images = {}
    for tar, (jpg_offset, jpg_size), (index_offset, _) in sample_locations(ShardSet.from_dataset(data_dir)):
        with open(tar, "rb") as f:
            f.seek(jpg_offset)
            pixels = np.array(Image.open(io.BytesIO(f.read(jpg_size))).convert("RGB"))
            f.seek(index_offset)
            images[int(np.frombuffer(f.read(8), "<i8")[0])] = pixels
    return images


@pytest.fixture(scope="session")
def square_dataset(tmp_path_factory):
    """16 checkerboard images of exactly 255x255 (the tile crop size) in 3 shards."""
    out = tmp_path_factory.mktemp("square_dataset")
    return write_image_dataset(out, [checker_image(100 + i, 255, 255) for i in range(16)], shard_bytes=100_000)


@pytest.fixture(scope="session")
def square_pixels(square_dataset):
    return decoded_images(square_dataset)


@pytest.fixture(scope="session")
def solid_dataset(tmp_path_factory):
    """One image per SOLID_COLOURS entry (64x48), so normalised outputs have known values."""
    out = tmp_path_factory.mktemp("solid_dataset")
    images = [np.broadcast_to(np.array(c, np.uint8), (48, 64, 3)).copy() for c in SOLID_COLOURS]
    return write_image_dataset(out, images)


@pytest.fixture(scope="session")
def corrupt_dataset(tmp_path_factory):
    """24 small images, two of them (CORRUPT_INDICES) undecodable, in 2 shards."""
    out = tmp_path_factory.mktemp("corrupt_dataset")
    with DatasetWriter(out, shard_bytes=60_000) as writer:
        for i in range(24):
            buf = io.BytesIO()
            Image.fromarray(checker_image(200 + i, 120, 160)).save(buf, "JPEG", quality=90)
            data = buf.getvalue()
            if i == CORRUPT_INDICES[0]:
                data = data[: len(data) // 3]
            elif i == CORRUPT_INDICES[1]:
                data = b"\xff\xd8\xff" + os.urandom(600)
            writer.add({"jpg": data}, {"modality": "image", "source": f"generated/{i}.jpg", "width": 160, "height": 120})
    return out


def to_pixels(normalized) -> np.ndarray:
    """Undo ImageNet normalisation: float [..., 3, H, W] tensor to uint8 [..., H, W, 3]."""
    import torch

    from mmssl.pipelines.ops import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1) * 255
    pixels = (normalized.cpu() * std + mean).round().clamp(0, 255).to(torch.uint8)
    return pixels.movedim(-3, -1).numpy()


def tile_offsets(tile: np.ndarray, image: np.ndarray, cell: int, grid: int = 3, cell_px: int = 85) -> list[tuple]:
    """Every (dx, dy, mirrored) at which `tile` equals a window of `image`'s cell `cell` (row-major)."""
    row, col = divmod(cell, grid)
    cell_pixels = image[row * cell_px : (row + 1) * cell_px, col * cell_px : (col + 1) * cell_px]
    size = tile.shape[0]
    found = []
    for dy in range(cell_px - size + 1):
        for dx in range(cell_px - size + 1):
            window = cell_pixels[dy : dy + size, dx : dx + size]
            if np.array_equal(window, tile):
                found.append((dx, dy, False))
            if np.array_equal(window[:, ::-1], tile):
                found.append((dx, dy, True))
    return found
