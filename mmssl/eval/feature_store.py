"""Features on disk in chunks, so a million-image dataset never has to fit in memory.

Layout of a store directory:
    layers.json                   the layer names, in the network's order
    <layer>/<shard>-<chunk>.npy   float16 [rows, dims]
    index/<shard>-<chunk>.npy     int64 [rows]: the manifest index of each row
Extraction runs one shard per Ray task (or in this process); readers memory-map the chunks. A sample
that two shards both hold (the loader pads ranks to equal length) is read once: its first copy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from mmssl.eval.layer_features import FeatureSource
from mmssl.pipelines.each_sample_once import each_sample_once

INDEX = "index"
LAYERS_FILE = "layers.json"


def extract_shard(source: FeatureSource, data_dir: str | os.PathLike, store_dir: str | os.PathLike, *,
                  shard_id: int = 0, num_shards: int = 1, batch_size: int = 64, chunk_rows: int = 4096,
                  num_threads: int = 2, progress: bool = True) -> int:
    """Write shard `shard_id`'s features of every layer of `source` into `store_dir`; returns its rows."""
    store_dir = Path(store_dir)
    for name in (*source.layers, INDEX):
        (store_dir / name).mkdir(parents=True, exist_ok=True)
    (store_dir / LAYERS_FILE).write_text(json.dumps(list(source.layers)))
    pending: dict[str, list[np.ndarray]] = {name: [] for name in (*source.layers, INDEX)}
    written = chunk = buffered = 0

    def flush() -> None:
        nonlocal chunk, buffered
        for name, parts in pending.items():
            dtype = np.int64 if name == INDEX else np.float16
            np.save(store_dir / name / f"{shard_id:04d}-{chunk:05d}.npy", np.concatenate(parts).astype(dtype))
            parts.clear()
        chunk, buffered = chunk + 1, 0

    batches = each_sample_once(source.pipeline, data_dir, batch_size=batch_size, options=source.options,
                               num_threads=num_threads, shard_id=shard_id, num_shards=num_shards)
    for batch in tqdm(batches, desc=f"features (shard {shard_id})", unit="batch", disable=not progress, leave=False):
        for name, values in source.features(batch[source.input_key]).items():
            pending[name].append(values.cpu().numpy())
        pending[INDEX].append(batch["index"].cpu().numpy())
        buffered += batch["index"].numel()
        written += batch["index"].numel()
        if buffered >= chunk_rows:
            flush()
    if buffered:
        flush()
    return written


def extract(make_source: Callable[[], FeatureSource], data_dir: str | os.PathLike, store_dir: str | os.PathLike,
            *, num_workers: int = 1, cpus_per_worker: float = 1.0, **options) -> "FeatureStore":
    """Features of every sample of `data_dir`: in this process, or one shard per Ray task when
    `num_workers` > 1 (Ray must be initialised; `make_source` runs inside each task)."""
    if num_workers <= 1:
        extract_shard(make_source(), data_dir, store_dir, **options)
        return FeatureStore(store_dir)
    import ray

    @ray.remote(num_cpus=cpus_per_worker)
    def one_shard(shard_id: int) -> int:
        return extract_shard(make_source(), data_dir, store_dir, shard_id=shard_id, num_shards=num_workers,
                             **dict(options, progress=False))

    ray.get([one_shard.remote(shard) for shard in range(num_workers)])
    return FeatureStore(store_dir)


@dataclass
class FeatureChunk:
    index: np.ndarray  # manifest index per row (repeats already dropped)
    features: np.ndarray  # [rows, dims] float16, memory-mapped


class FeatureStore:
    """Read side of a store directory: chunk by chunk, or one layer whole for small datasets."""

    def __init__(self, store_dir: str | os.PathLike):
        self.store_dir = Path(store_dir)
        names = sorted(path.name for path in (self.store_dir / INDEX).glob("*.npy"))
        if not names:
            raise FileNotFoundError(f"{self.store_dir / INDEX} holds no chunks: no features were extracted")
        self.chunk_names = names
        indices = [np.load(self.store_dir / INDEX / name) for name in names]
        everything = np.concatenate(indices)
        first = np.zeros(everything.size, dtype=bool)
        first[np.unique(everything, return_index=True)[1]] = True  # a row's first copy, in chunk order
        self._keep = np.split(first, np.cumsum([index.size for index in indices])[:-1])
        self._index = [index[keep] for index, keep in zip(indices, self._keep)]  # read once, kept: small
        self.layers = tuple(json.loads((self.store_dir / LAYERS_FILE).read_text()))  # in the network's order

    def chunks(self, layer: str) -> Iterator[FeatureChunk]:
        """Every chunk of `layer` with its manifest indices, repeats dropped, features memory-mapped."""
        return (self.chunk(layer, number) for number in range(len(self.chunk_names)))

    def chunk(self, layer: str, number: int) -> FeatureChunk:
        if layer not in self.layers:
            raise KeyError(f"layer {layer!r} not in {self.store_dir} (has {', '.join(self.layers)})")
        keep = self._keep[number]
        features = np.load(self.store_dir / layer / self.chunk_names[number], mmap_mode="r")
        return FeatureChunk(self._index[number], features if keep.all() else features[keep])

    def dims(self, layer: str) -> int:
        return int(np.load(self.store_dir / layer / self.chunk_names[0], mmap_mode="r").shape[1])

    def whole(self, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(features float32 [N, D], manifest indices [N]) of one layer, read into memory."""
        parts = list(self.chunks(layer))
        features = np.concatenate([part.features for part in parts]).astype(np.float32)
        return torch.from_numpy(features), torch.from_numpy(np.concatenate([part.index for part in parts]))
