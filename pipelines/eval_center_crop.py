"""Deterministic evaluation views: every sample once, resized and center-cropped, no augmentation.

Outputs per batch: `image` [B,3,S,S] float32 normalized (ImageNet statistics) and `index` [B].
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from nvidia.dali import fn, pipeline_def, types

from mmssl.data.manifest import SHARDS_DIR, read_manifest
from mmssl.data.shards import list_shards

MEAN_255 = [0.485 * 255, 0.456 * 255, 0.406 * 255]
STD_255 = [0.229 * 255, 0.224 * 255, 0.225 * 255]


@pipeline_def
def center_crop_pipeline(tar_paths: list[str], index_paths: list[str], decoder_device: str, image_size: int):
    jpegs, indices = fn.readers.webdataset(
        paths=tar_paths, index_paths=index_paths, ext=["jpg", "index"],
        dtypes=[types.UINT8, types.INT64], missing_component_behavior="skip", random_shuffle=False,
        pad_last_batch=True, name="reader",
    )
    images = fn.decoders.image(jpegs, device=decoder_device, output_type=types.RGB)
    images = fn.resize(images, resize_shorter=round(image_size * 256 / 224))
    images = fn.crop_mirror_normalize(
        images, crop=(image_size, image_size), mean=MEAN_255, std=STD_255, dtype=types.FLOAT, output_layout="CHW"
    )
    return images, indices


def iterate_center_crops(
    data_dir: str | os.PathLike, batch_size: int = 64, image_size: int = 224, device: str = "cpu", num_threads: int = 2
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, indices) over every image sample of a prepared dataset exactly once."""
    pairs = list_shards(os.path.join(data_dir, SHARDS_DIR))
    modality = read_manifest(data_dir, columns=["modality"]).column("modality").to_pylist()
    num_samples = modality.count("image")
    pipe = center_crop_pipeline(
        tar_paths=[str(t) for t, _ in pairs], index_paths=[str(i) for _, i in pairs],
        decoder_device="mixed" if device == "gpu" else "cpu", image_size=image_size,
        batch_size=batch_size, num_threads=num_threads, device_id=0 if device == "gpu" else None,
    )
    pipe.build()
    remaining = num_samples
    while remaining > 0:
        images, indices = pipe.run()
        take = min(batch_size, remaining)
        if device == "gpu":
            images = images.as_cpu()
        batch = torch.from_numpy(np.stack([np.asarray(images[i]) for i in range(take)]))
        index = torch.from_numpy(np.concatenate([np.asarray(indices[i]) for i in range(take)]).astype(np.int64))
        remaining -= take
        yield batch, index
