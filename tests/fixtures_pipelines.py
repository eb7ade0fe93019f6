"""Datasets for the image pipeline tests: square checkerboards, solid colours, and corrupt JPEGs."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from fixtures_media import checker_image, write_image_dataset
from mmssl.data.dataset_writer import DatasetWriter
from mmssl.data.member_table import MemberTable

SOLID_COLOURS = [(0, 0, 0), (255, 255, 255), (200, 30, 90), (12, 140, 250)]
# in corrupt_dataset: a truncated JPEG, one that is garbage after its start marker (both caught by the
# loader's structural check), and one with valid start and end markers around garbage, which only
# DALI's decoder finds bad
CORRUPT_INDICES = (7, 11, 17)


def decoded_images(data_dir) -> dict[int, np.ndarray]:
    """{global index: RGB pixels as PIL decodes the stored JPEG} for every sample of `data_dir`."""
    table = MemberTable.open(data_dir)
    shards, jpgs = table.shard_numbers(), table.locations("jpg")
    images = {}
    for index in range(table.num_samples):
        with open(table.tar_paths[shards[index]], "rb") as f:
            f.seek(jpgs[index, 0])
            images[index] = np.array(Image.open(io.BytesIO(f.read(jpgs[index, 1]))).convert("RGB"))
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
    """24 small images, three of them (CORRUPT_INDICES) undecodable, in 2 shards."""
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
            elif i == CORRUPT_INDICES[2]:
                data = b"\xff\xd8" + bytes(range(256)) * 3 + b"\xff\xd9"
            writer.add({"jpg": data}, {"modality": "image", "source": f"generated/{i}.jpg", "width": 160, "height": 120})
    return out


def assert_resumes_exactly(pipeline: str, data_dir, batches_before: int, **kwargs) -> None:
    """A loader restored from its checkpoint after `batches_before` batches yields the very next batch."""
    import torch

    from mmssl.pipelines.loader import build_loader

    loader = build_loader(pipeline, data_dir, **kwargs)
    stream = iter(loader)
    for _ in range(batches_before):
        next(stream)
    state = loader.checkpoint()
    want = next(stream)
    have = next(iter(build_loader(pipeline, data_dir, checkpoint=state, **kwargs)))
    assert want.keys() == have.keys()
    for name in want:
        assert torch.equal(want[name], have[name]), name


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


def _normalized_video(seconds: float, audio: bool):
    from fixtures_ingest import make_video
    from mmssl.data.normalize_video import normalize_video

    return normalize_video(make_video(seconds=seconds, audio=audio))


@pytest.fixture(scope="session")
def mixed_dataset(tmp_path_factory):
    """Photos and videos in one dataset, as YFCC100M mixes them, written in this order of indices:
    0-19 photos; 20-22 videos with audio (mp4 + flac); 23 a silent video; 24 a truncated mp4; 25 a
    video whose flac does not decode; 26-29 photos. Returns (dir, {index: members})."""
    out = tmp_path_factory.mktemp("mixed_dataset")
    speaking, silent = _normalized_video(1.0, True), _normalized_video(1.0, False)
    samples = {}
    for i in range(20):
        samples[i] = {"jpg": _jpeg(checker_image(300 + i, 96, 128))}
    for i in (20, 21, 22):
        samples[i] = {"mp4": speaking.mp4, "flac": speaking.flac}
    samples[23] = {"mp4": silent.mp4}
    samples[24] = {"mp4": speaking.mp4[: len(speaking.mp4) // 2], "flac": speaking.flac}
    samples[25] = {"mp4": speaking.mp4, "flac": speaking.flac[:42] + os.urandom(len(speaking.flac) - 42)}
    for i in range(26, 30):
        samples[i] = {"jpg": _jpeg(checker_image(300 + i, 96, 128))}
    with DatasetWriter(out, shard_bytes=200_000) as writer:
        for i, members in samples.items():
            modality = "image" if "jpg" in members else "video"
            writer.add(members, {"modality": modality, "source": f"generated/{i}", "has_audio": "flac" in members})
    return out, samples


def _jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="session")
def class_blocks_dataset(tmp_path_factory):
    """2,400 tiny photos written class after class (6 classes of 400), as a folder-per-class input
    is ingested. Returns (dir, number of classes, samples per class)."""
    out = tmp_path_factory.mktemp("class_blocks")
    num_classes, per_class = 6, 400
    with DatasetWriter(out, shard_bytes=2 << 20) as writer:
        for i in range(num_classes * per_class):
            pixels = np.full((12, 12, 3), 40 * (i // per_class), np.uint8)
            writer.add({"jpg": _jpeg(pixels)}, {"modality": "image", "source": f"class{i // per_class}/{i}.jpg"})
    return out, num_classes, per_class
