"""Small generated datasets written straight into shards (no preparation step), for pipeline tests."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mmssl.data.dataset_writer import DatasetWriter


def checker_image(seed: int, height: int = 300, width: int = 400) -> np.ndarray:
    """An RGB image whose every 20 px block has a distinct colour, so any crop is recognisable."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(height // 20 + 1, width // 20 + 1, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((20, 20, 1), np.uint8))[:height, :width]


def write_image_dataset(out_dir, images: list[np.ndarray], shard_bytes: int = 1 << 20, quality: int = 95):
    """Write `images` as baseline JPEG samples with indices 0..len-1; returns `out_dir`."""
    with DatasetWriter(out_dir, shard_bytes=shard_bytes) as writer:
        for i, pixels in enumerate(images):
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
            writer.add(
                {"jpg": buf.getvalue()},
                {"modality": "image", "source": f"generated/{i}.jpg", "width": pixels.shape[1], "height": pixels.shape[0]},
            )
    return out_dir


@pytest.fixture(scope="session")
def image_dataset(tmp_path_factory):
    """64 checkerboard images (300x400) in several shards."""
    out = tmp_path_factory.mktemp("image_dataset")
    return write_image_dataset(out, [checker_image(i) for i in range(64)], shard_bytes=400_000)
