"""Reading prepared shards in a DALI graph: the rank's slice of the samples, shuffled, with resume.

Every pipeline starts here. The reader splits the dataset's samples (all shards, in order) into
`num_shards` contiguous slices, one per rank; `stick_to_shard=False` moves each rank to the next
slice every epoch, and the shuffle buffer mixes samples of several tar shards. `pad_last_batch`
repeats the slice's last sample so every rank has the same number of batches per epoch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import nvidia.dali.fn as fn
import nvidia.dali.types as types

from mmssl.data.manifest import INDEX_MEMBER, SHARDS_DIR
from mmssl.data.shards import list_shards, read_index

READER_NAME = "shards"
IMAGE_MEMBER = "jpg"
SHUFFLE_BUFFER = 1024  # samples the reader holds to draw each batch from (DALI's initial_fill)


@dataclass(frozen=True)
class ShardSet:
    """The tar shards of a prepared dataset and the index files the reader uses for them.

    `index_paths` normally are the shards' own .idx files; the loader swaps in repaired copies
    when it has to route around a corrupt sample (see pipelines/corrupt.py).
    """

    tar_paths: tuple[str, ...]
    index_paths: tuple[str, ...]
    num_samples: int

    @classmethod
    def from_dataset(cls, data_dir: str | os.PathLike) -> "ShardSet":
        shards_dir = Path(data_dir) / SHARDS_DIR
        pairs = list_shards(shards_dir) if shards_dir.is_dir() else []
        if not pairs:
            raise FileNotFoundError(
                f"no shards found in {shards_dir}: {data_dir} is not a prepared dataset; "
                f"run `python tools/prepare_data.py --input MEDIA_DIR --output {data_dir}` first"
            )
        num_samples = sum(len(read_index(idx)) for _, idx in pairs)
        return cls(tuple(str(t) for t, _ in pairs), tuple(str(i) for _, i in pairs), num_samples)

    def with_index_paths(self, index_paths: list[str]) -> "ShardSet":
        return ShardSet(self.tar_paths, tuple(index_paths), self.num_samples)


def batches_per_epoch(num_samples: int, batch_size: int, num_shards: int) -> int:
    """Batches per rank per epoch: the largest rank slice (padded), so every rank runs the same count."""
    if num_samples < num_shards:
        raise ValueError(f"{num_samples} samples cannot be split over {num_shards} ranks; use fewer ranks or more data")
    return math.ceil(math.ceil(num_samples / num_shards) / batch_size)


def read_shards(shards: ShardSet, *, shard_id: int, num_shards: int, shuffle: bool = True, shuffle_buffer: int = SHUFFLE_BUFFER):
    """The encoded JPEG bytes and the global `index` (int64 scalar) of each sample of this rank."""
    jpegs, index = fn.readers.webdataset(
        paths=list(shards.tar_paths),
        index_paths=list(shards.index_paths),
        ext=[IMAGE_MEMBER, INDEX_MEMBER],
        dtypes=[types.UINT8, types.INT64],
        missing_component_behavior="error",
        shard_id=shard_id,
        num_shards=num_shards,
        stick_to_shard=False,
        pad_last_batch=True,
        random_shuffle=shuffle,
        initial_fill=shuffle_buffer,
        name=READER_NAME,
    )
    return jpegs, fn.reshape(index, shape=[])
