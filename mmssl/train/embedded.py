"""The embedded defaults' datasets: generated labelled images, or videos with sound, prepared once and cached.

The recipes with no --data train on these, so a newcomer sees the whole path (generate -> prepare ->
shards -> DALI -> Ray Train -> evaluation) in a few minutes on a laptop. The labels never reach
training: they only score the learned features afterwards. Every recipe also gets held-out media,
generated with another seed and never trained on, to evaluate on. Each prepared folder carries its
classes in `labels.parquet`, so the evaluation recipes (linear_probe, knn) read it directly.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from mmssl.data.manifest import read_manifest
from mmssl.data.prepare import PrepareConfig, prepare
from mmssl.data.sources import FolderSource
from mmssl.data.synthetic import generate_media, labels_by_source
from mmssl.train.config import OptimConfig

EMBEDDED_VERSION = "embedded-v2"
EMBEDDED_MEDIA = dict(num_images=480, num_videos=0, num_classes=6, num_corrupt=4, seed=0,
                      image_long_side_px=(160, 240))
HELD_OUT_IMAGE_MEDIA = dict(EMBEDDED_MEDIA, num_images=240, num_corrupt=0, seed=1)
# What lets the image recipes' embedded defaults learn the generated classes in ~150 CPU steps (found
# with PIRL, then measured for each recipe, issue 33): 32 px views of 25-100% crops, and colour
# removed as a cue (a full turn of hue, strong jitter, grayscale half the time), because each image's
# colours are random: with the usual mild jitter, colour alone tells instances apart, and the
# networks learned colour and nothing of the structure that carries the classes.
EMBEDDED_STRONG_COLOR = {"brightness": 0.8, "contrast": 0.8, "saturation": 0.8, "hue": 0.5, "grayscale_p": 0.5}
EMBEDDED_IMAGE_VIEW = {"image_size": 32, "image_scale": (0.25, 1.0)}


def embedded_adam() -> OptimConfig:
    """How the image recipes' embedded defaults (all but pirl_yfcc) train: Adam at 1e-3 per 64 samples.
    With SGD their losses stayed at chance for 150 steps on this data (docs/learning.md)."""
    return OptimConfig(optimizer="adam", base_lr=1e-3, base_batch_size=64, weight_decay=1e-6, warmup_steps=10)


EMBEDDED_OBJECTS_VERSION = "embedded-objects-v1"
# Jigsaw's embedded images: the same counts, sizes and seeds, each one large shape near the middle
# (synthetic.IMAGE_OBJECT_CLASS_NAMES). The structure families are textures that look alike tile by
# tile, so no arrangement of their tiles is more likely than another and the pretext stays at chance
# (docs/learning.md); an object's parts tell where they sit, as in the object-centric photos
# (ImageNet) Jigsaw was made on.
EMBEDDED_OBJECT_MEDIA = dict(EMBEDDED_MEDIA, image_scene="one_object")
HELD_OUT_OBJECT_MEDIA = dict(HELD_OUT_IMAGE_MEDIA, image_scene="one_object")
EMBEDDED_VIDEO_VERSION = "embedded-video-v2"
# small, short videos of one size and rate, all with sound. The object is large (its radius about a
# quarter of the short side), so its shape survives the networks' 64 px input, and it flashes at each
# bounce as the click sounds. With v1's small objects and no flash, nothing a CPU run learned carried
# over to held-out videos (kNN and linear probe at chance), and correspondence stayed at chance.
_VIDEO_MEDIA = dict(num_images=0, num_classes=4, video_seconds=(3.0, 4.0), video_sizes=((160, 120),),
                    video_fps_choices=(24,), audio_fraction=1.0, video_object_scale=(0.24, 0.3),
                    bounce_flash_s=0.125, video_colours="hue_only")
EMBEDDED_VIDEO_MEDIA = dict(_VIDEO_MEDIA, num_videos=128, num_corrupt=2, seed=0)
HELD_OUT_VIDEO_MEDIA = dict(_VIDEO_MEDIA, num_videos=64, num_corrupt=0, seed=1)


@dataclass(frozen=True)
class HeldOut:
    """Prepared media never trained on, the class of each (by manifest index; -1 unlabelled), and the
    class of each training sample (by the training data's manifest index), the kNN references."""

    data_dir: Path
    labels: torch.Tensor
    train_labels: torch.Tensor


def embedded_dataset(cache_dir: Path) -> tuple[Path, HeldOut]:
    """(prepared training images, held-out images) for the image recipes' embedded defaults; built on first use."""
    return _train_and_held_out(Path(cache_dir) / EMBEDDED_VERSION, EMBEDDED_MEDIA, HELD_OUT_IMAGE_MEDIA,
                               "a small labelled dataset", "held-out images")


def embedded_object_dataset(cache_dir: Path) -> tuple[Path, HeldOut]:
    """(prepared training images, held-out images) of one centred object each, for Jigsaw's embedded default."""
    return _train_and_held_out(Path(cache_dir) / EMBEDDED_OBJECTS_VERSION, EMBEDDED_OBJECT_MEDIA,
                               HELD_OUT_OBJECT_MEDIA, "small labelled object photos", "held-out object photos")


def embedded_video_dataset(cache_dir: Path) -> tuple[Path, HeldOut]:
    """(prepared training videos, held-out videos) for the video recipes' embedded defaults; built on first use."""
    return _train_and_held_out(Path(cache_dir) / EMBEDDED_VIDEO_VERSION, EMBEDDED_VIDEO_MEDIA, HELD_OUT_VIDEO_MEDIA,
                               "small labelled videos with sound", "held-out videos")


def _train_and_held_out(root: Path, train_media: dict, held_out_media: dict, train_what: str,
                        held_out_what: str) -> tuple[Path, HeldOut]:
    train, train_labels = _prepared(root / "train", train_media, train_what)
    held_out, labels = _prepared(root / "held_out", held_out_media, held_out_what)
    return train, HeldOut(held_out, labels, train_labels)


def _prepared(root: Path, media: dict, what: str) -> tuple[Path, torch.Tensor]:
    """(`root`/data, its class per manifest index): generated (`media`: generate_media's arguments),
    prepared and labelled (labels.parquet beside the manifest) unless that is already done."""
    from mmssl.eval.labelled_data import LABELS_FILE, read_labelled, write_labels

    raw, data = root / "raw", root / "data"
    if not _complete(data):
        print(f"embedded default: generating and preparing {what} in {root} (once)")
        shutil.rmtree(root, ignore_errors=True)
        generated = generate_media(raw, **media)
        summary = prepare(FolderSource(str(generated.media_root)),
                          PrepareConfig(output_dir=str(data), local=True, shard_bytes=4 << 20))
        rejected = summary.get("rejected", "?")
        print(f"  accepted {summary.get('accepted', '?')}, rejected {rejected}"
              + (" (corrupt inputs, on purpose)" if media.get("num_corrupt") else ""))
    if not (data / LABELS_FILE).exists():
        labels = labels_for_manifest(data, raw / "media", raw)
        write_labels(data, labels, tuple(f"class_{k}" for k in range(media["num_classes"])))
    return data, read_labelled(data).labels


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
