"""Labelled datasets for evaluation: a class-folder tree or a prepared dataset with `labels.parquet`.

Evaluations read media through the same prepared shards and pipelines as training, so a folder of
labelled files (one sub-folder per class, ImageNet / UCF101 style, optionally under `train/` and
`val/`) is prepared once into a cache, and each accepted sample's class and split come from its
path. A prepared dataset is labelled by `labels.parquet` beside its manifest: `index`, `label`, and
optionally `held_out` (ClusterFit writes its pseudo-labels in the same format).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from mmssl.data.manifest import read_manifest
from mmssl.data.store import is_uri, open_location

LABELS_FILE = "labels.parquet"
DEFAULT_CACHE = "~/.cache/mmssl/eval"  # where class-folder trees are prepared
SPLIT_FOLDERS = {"train": False, "val": True, "test": True}  # folder name -> held out


@dataclass(frozen=True)
class LabelledData:
    """A prepared dataset, the class of each manifest index (-1: unlabelled) and the held-out split."""

    data_dir: Path | str  # a directory, or a store URI (s3://bucket/prefix)
    labels: torch.Tensor  # [N] int64, by manifest index
    class_names: tuple[str, ...]
    held_out: torch.Tensor | None  # [N] bool, by manifest index; None: the dataset names no split

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def write_labels(data_dir: str | os.PathLike, labels: torch.Tensor, class_names: tuple[str, ...],
                 held_out: torch.Tensor | None = None, file_name: str = LABELS_FILE) -> Path:
    """Write `labels` (by manifest index) beside the manifest; class names go in the file's metadata."""
    columns = {"index": np.arange(labels.numel(), dtype=np.int64), "label": labels.numpy().astype(np.int64)}
    if held_out is not None:
        columns["held_out"] = held_out.numpy().astype(bool)
    table = pa.table(columns).replace_schema_metadata({"class_names": json.dumps(list(class_names))})
    path = Path(data_dir) / file_name
    pq.write_table(table, path)
    return path


def read_labelled(data_dir: str | os.PathLike, file_name: str = LABELS_FILE) -> LabelledData:
    """A prepared dataset's labels (in a directory or on a store); names the missing file and how to make it."""
    location = open_location(data_dir)
    data_dir = str(data_dir) if location.remote else Path(data_dir)
    path = location.describe(file_name)
    if not location.exists(file_name):
        raise FileNotFoundError(
            f"{path} not found: {data_dir} is a prepared dataset without labels; pass a folder with one "
            f"sub-folder per class instead, or write {file_name} (index, label[, held_out]) beside its manifest")
    table = pq.read_table(location.path(file_name), filesystem=location.filesystem)
    num_samples = read_manifest(data_dir, columns=["index"]).num_rows
    labels = torch.full((num_samples,), -1, dtype=torch.long)
    index = torch.from_numpy(table["index"].to_numpy().astype(np.int64))
    if index.numel() and (index.min() < 0 or index.max() >= num_samples):
        raise ValueError(f"{path}: index values must be in [0, {num_samples}) (the manifest's), "
                         f"got [{int(index.min())}, {int(index.max())}]")
    labels[index] = torch.from_numpy(table["label"].to_numpy().astype(np.int64))
    held_out = None
    if "held_out" in table.column_names:
        held_out = torch.zeros(num_samples, dtype=torch.bool)
        held_out[index] = torch.from_numpy(table["held_out"].to_numpy(zero_copy_only=False).astype(bool))
    metadata = table.schema.metadata or {}
    names = json.loads(metadata[b"class_names"]) if b"class_names" in metadata else None
    if names is None:
        names = [str(label) for label in range(int(labels.max()) + 1)]
    return LabelledData(data_dir, labels, tuple(names), held_out)


def labelled_dataset(path: str | os.PathLike, cache_dir: str | os.PathLike) -> LabelledData:
    """`path` as a labelled dataset: a prepared one (with labels.parquet), or a class-folder tree
    prepared into `cache_dir` on first use (re-used afterwards; preparation resumes if interrupted). On an
    object store (`s3://bucket/prefix`) it must be a prepared one: it is read in place, not copied."""
    if is_uri(path):
        return read_labelled(str(path))
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a directory: pass a folder with one sub-folder per class "
                                f"or a prepared dataset with {LABELS_FILE}")
    if (path / "manifest.parquet").exists():
        return read_labelled(path)
    data_dir = Path(cache_dir).expanduser() / f"{path.name}-{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    if not (data_dir / LABELS_FILE).exists():
        _prepare_class_folders(path, data_dir)
    return read_labelled(data_dir)


def class_of_source(relative: Path) -> tuple[str, bool | None] | None:
    """(class name, held out or None) from a path relative to the tree's root; None: not in a class folder."""
    parts = relative.parts
    if len(parts) >= 3 and parts[0] in SPLIT_FOLDERS:
        return parts[1], SPLIT_FOLDERS[parts[0]]
    return (parts[0], None) if len(parts) >= 2 else None


def _prepare_class_folders(root: Path, data_dir: Path) -> None:
    from mmssl.data.prepare import PrepareConfig, prepare
    from mmssl.data.sources import FolderSource

    print(f"preparing the labelled folder {root} into {data_dir} (once)")
    summary = prepare(FolderSource(str(root)), PrepareConfig(output_dir=str(data_dir), local=True, shard_bytes=64 << 20))
    print(f"  accepted {summary.get('accepted', '?')}, rejected {summary.get('rejected', '?')} "
          f"(see {data_dir / 'rejected.parquet'})")
    manifest = read_manifest(data_dir, columns=["index", "source"]).to_pylist()
    found = [class_of_source(Path(os.path.relpath(row["source"], root))) for row in manifest]
    class_names = tuple(sorted({entry[0] for entry in found if entry is not None}))
    if len(class_names) < 2:
        raise ValueError(f"{root}: found {len(class_names)} class folders; a labelled folder needs one "
                         "sub-folder per class (at least 2), e.g. ROOT/cat/1.jpg, ROOT/dog/2.jpg")
    number = {name: k for k, name in enumerate(class_names)}
    labels = torch.full((len(manifest),), -1, dtype=torch.long)
    splits = {entry[1] for entry in found if entry is not None}
    held_out = torch.zeros(len(manifest), dtype=torch.bool) if splits == {False, True} else None
    for row, entry in zip(manifest, found):
        if entry is not None:
            labels[row["index"]] = number[entry[0]]
            if held_out is not None:
                held_out[row["index"]] = bool(entry[1])
    write_labels(data_dir, labels, class_names, held_out)


def held_out_split(labels: torch.Tensor, fraction: float = 0.2, seed: int = 0) -> torch.Tensor:
    """A stratified held-out mask over the labelled samples: `fraction` of each class, fixed by `seed`."""
    if not 0 < fraction < 1:
        raise ValueError(f"held-out fraction must be in (0, 1), got {fraction}")
    generator = torch.Generator().manual_seed(seed)
    held_out = torch.zeros(labels.numel(), dtype=torch.bool)
    for label in labels[labels >= 0].unique():
        members = (labels == label).nonzero().flatten()
        members = members[torch.randperm(members.numel(), generator=generator)]
        held_out[members[: max(1, round(fraction * members.numel()))]] = True
    return held_out
