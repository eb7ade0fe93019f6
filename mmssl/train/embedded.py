"""The embedded default's dataset: generated labelled images, prepared once and cached.

The recipes with no --data train on this, so a newcomer sees the whole path (generate -> prepare ->
shards -> DALI -> Ray Train -> kNN check) in a few minutes on a laptop. The labels never reach
training: they only score the learned features afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from mmssl.data.manifest import read_manifest
from mmssl.data.prepare import PrepareConfig, prepare
from mmssl.data.sources import FolderSource
from mmssl.data.synthetic import generate_media, labels_by_source

EMBEDDED_VERSION = "embedded-v1"
EMBEDDED_MEDIA = dict(num_images=480, num_videos=0, num_classes=6, num_corrupt=4, seed=0,
                      image_long_side_px=(160, 240))


def embedded_dataset(cache_dir: Path) -> tuple[Path, torch.Tensor]:
    """(prepared dataset dir, label per global index) for the embedded default; built on first use."""
    root = Path(cache_dir) / EMBEDDED_VERSION
    raw, data = root / "raw", root / "data"
    if not _complete(data):
        print(f"embedded default: generating and preparing a small labelled dataset in {root} (once)")
        shutil.rmtree(root, ignore_errors=True)
        media = generate_media(raw, **EMBEDDED_MEDIA)
        summary = prepare(FolderSource(str(media.media_root)), PrepareConfig(output_dir=str(data), local=True, shard_bytes=4 << 20))
        print(f"  accepted {summary.get('accepted', '?')}, rejected {summary.get('rejected', '?')} (corrupt inputs, on purpose)")
    return data, labels_for_manifest(data, raw / "media", raw)


def labels_for_manifest(data_dir: Path, media_root: Path, labels_root: Path) -> torch.Tensor:
    """Label of each manifest index, joined by source path relative to `media_root` (-1: unlabelled)."""
    by_source = labels_by_source(labels_root)
    manifest = read_manifest(data_dir, columns=["index", "source"]).to_pylist()
    labels = torch.full((len(manifest),), -1, dtype=torch.long)
    for row in manifest:
        relative = Path(os.path.relpath(row["source"], media_root)).as_posix()
        labels[row["index"]] = by_source.get(relative, -1)
    return labels


def _complete(data_dir: Path) -> bool:
    summary = data_dir / "summary.json"
    return summary.exists() and json.loads(summary.read_text()).get("complete", False)
