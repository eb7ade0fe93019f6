"""The same image transforms with torchvision, in a PyTorch DataLoader over the shards.

Two uses: the tests' oracle for shapes and semantics of the DALI pipelines, and the baseline that
tools/bench_loader.py measures them against (what a user would otherwise run). It feeds on the same
sample plan and sample source as the DALI loader (same samples, same batches, same skips), each
DataLoader worker making whole batches. Outputs have the same names, shapes and perm convention as
pipelines/loader.py.

Like for like: PIL decodes (libjpeg-turbo, as DALI on the CPU), then torchvision v2 transforms work on
uint8 tensors with the DALI graphs' resize filtering: bilinear random resized crops without
antialiasing (`ops.random_resized_crop`; PIL would always antialias), so a benchmark ratio measures
the loader, not a cheaper filter.
"""

from __future__ import annotations

import io
import random

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from torchvision import tv_tensors
from torchvision.transforms import v2 as T

from mmssl.data.member_table import MemberTable
from mmssl.data.sample_plan import SamplePlan
from mmssl.pipelines.jigsaw import TileConfig
from mmssl.pipelines.loader import IMAGE_MEMBERS, make_config
from mmssl.pipelines.ops import ASPECT_RATIO, IMAGENET_MEAN, IMAGENET_STD, ColorJitter
from mmssl.pipelines.rotation import NUM_ROTATIONS
from mmssl.pipelines.sample_source import SampleSource

_to_normalized = T.Compose([T.ToDtype(torch.float32, scale=True), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
RESIZE_ANTIALIAS = False  # as the DALI graphs' random resized crops (ops.random_resized_crop)


def color_jitter(cfg: ColorJitter) -> T.Compose:
    return T.Compose([T.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue), T.RandomGrayscale(cfg.grayscale_p)])


def view_transform(size: int, scale, augment: bool, color: ColorJitter | None) -> T.Compose:
    crop = T.RandomResizedCrop(size, scale=scale, ratio=ASPECT_RATIO, antialias=RESIZE_ANTIALIAS)
    steps = [crop, T.RandomHorizontalFlip(), color_jitter(color)] if augment else [crop]
    return T.Compose(steps)


def tiles_of(square: torch.Tensor, cfg: TileConfig, perm: np.ndarray) -> torch.Tensor:
    """[n, 3, tile, tile] normalised: tiles[j] from cell perm[j] (row-major), per-tile augmented."""
    cell, slack = cfg.cell_px, cfg.cell_px - cfg.tile_px
    tile_augment = T.Compose([T.RandomHorizontalFlip(), color_jitter(cfg.tile_color)])
    tiles = []
    for c in perm:
        row, col = divmod(int(c), cfg.tile_grid)
        dx, dy = (random.randint(0, slack), random.randint(0, slack)) if cfg.tile_jitter else (slack // 2, slack // 2)
        top, left = row * cell + dy, col * cell + dx
        tile = tv_tensors.Image(square[:, top : top + cfg.tile_px, left : left + cfg.tile_px])
        tiles.append(_to_normalized(tile_augment(tile) if cfg.augment_tiles else tile))
    return torch.stack(tiles)


def worker_slots(source: SampleSource, seed: int, epoch: int):
    """(batch, position, slot) of this DataLoader worker's whole plan batches w, w + n, ... of `epoch`.

    Seeds Python's and torch's generators per (seed, epoch, worker) for the augmentations.
    """
    worker = get_worker_info()
    worker_id, num_workers = (worker.id, worker.num_workers) if worker else (0, 1)
    random.seed(seed * 1009 + epoch * 101 + worker_id)
    torch.manual_seed(seed * 1009 + epoch * 101 + worker_id)
    plan = source.plan
    for batch in range(worker_id, plan.batches_per_epoch, num_workers):
        for position in range(plan.batch_size):
            yield batch, position, source.slot(epoch, batch, position)


class ShardImages(IterableDataset):
    """One rank's epoch of samples as dicts of tensors, made by the pipeline's torchvision equivalent.

    Worker w of n makes whole plan batches w, w + n, ...; the DataLoader takes batches from its workers
    in turn, so its k-th batch holds exactly the samples of the DALI loader's k-th batch.
    """

    def __init__(self, pipeline: str, data_dir, *, batch_size: int, shard_id: int = 0, num_shards: int = 1,
                 seed: int = 0, options: dict | None = None):
        self.pipeline, self.cfg = pipeline, make_config(pipeline, options)
        table = MemberTable.open(data_dir)
        self.plan = SamplePlan(table.eligible_count(IMAGE_MEMBERS), batch_size, shard_id, num_shards, seed)
        self.source = SampleSource(table, IMAGE_MEMBERS, self.plan)
        self.seed, self.epoch = seed, 0
        self.permutations = self.cfg.permutation_set() if isinstance(self.cfg, TileConfig) else None

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        for _, _, slot in worker_slots(self.source, self.seed, epoch):
            pixels = np.array(Image.open(io.BytesIO(slot.members[0])).convert("RGB"))  # writable, for torch
            image = tv_tensors.Image(torch.from_numpy(pixels).permute(2, 0, 1))
            yield from self.transform(image, slot.index, slot.row)

    def transform(self, image: torch.Tensor, index: int, row: int):
        """One sample's outputs (several for all_rotations)."""
        cfg, name = self.cfg, self.pipeline
        out = {"index": torch.tensor(index), "row": torch.tensor(row)}
        if name in ("pirl", "jigsaw", "jigsaw_rotation"):
            square = T.RandomResizedCrop(cfg.tile_crop_px, scale=cfg.tile_crop_scale, ratio=ASPECT_RATIO,
                                         antialias=RESIZE_ANTIALIAS)(image)
            if name == "jigsaw_rotation":
                out["rotation"] = torch.tensor(random.randrange(NUM_ROTATIONS))
                square = torch.rot90(square, int(out["rotation"]), dims=(1, 2))  # counter-clockwise
            if self.permutations is None:
                perm = np.random.permutation(cfg.num_tiles)
            else:
                out["label"] = torch.tensor(random.randrange(len(self.permutations)))
                perm = self.permutations[int(out["label"])]
            out["perm"] = torch.as_tensor(perm, dtype=torch.int64)
            out["tiles"] = tiles_of(square, cfg, perm)
        if name == "pirl":
            out["image"] = _to_normalized(view_transform(cfg.image_size, cfg.image_scale, cfg.augment_image, cfg.image_color)(image))
        if name == "rotation":
            view = _to_normalized(view_transform(cfg.image_size, cfg.image_scale, cfg.augment_image, cfg.image_color)(image))
            turns = range(NUM_ROTATIONS) if cfg.all_rotations else [random.randrange(NUM_ROTATIONS)]
            for k in turns:
                yield {"image": torch.rot90(view, k, dims=(1, 2)), "label": torch.tensor(k), **out}
            return
        if name == "views":
            for v in range(cfg.num_views + cfg.small_views):
                large = v < cfg.num_views
                size, scale = (cfg.image_size, cfg.image_scale) if large else (cfg.small_size, cfg.small_scale)
                out[f"view_{v}"] = _to_normalized(self.views_transform(size, scale)(image))
        yield out

    def views_transform(self, size: int, scale) -> T.Compose:
        cfg = self.cfg
        steps = [T.RandomResizedCrop(size, scale=scale, ratio=ASPECT_RATIO, antialias=RESIZE_ANTIALIAS)]
        if cfg.augment:
            jitter = T.ColorJitter(cfg.color.brightness, cfg.color.contrast, cfg.color.saturation, cfg.color.hue)
            steps += [T.RandomHorizontalFlip(), T.RandomApply([jitter], p=cfg.color_p), T.RandomGrayscale(cfg.color.grayscale_p)]
            if cfg.blur_p > 0:
                steps.append(T.RandomApply([T.GaussianBlur((size // 10) | 1, cfg.blur_sigma)], p=cfg.blur_p))
            if cfg.solarize_p > 0:
                steps.append(T.RandomSolarize(128, p=cfg.solarize_p))
        return T.Compose(steps)


def build_torch_loader(pipeline: str, data_dir, *, batch_size: int, num_workers: int = 2, shard_id: int = 0,
                       num_shards: int = 1, seed: int = 0, options: dict | None = None) -> DataLoader:
    """A DataLoader yielding the same batch dicts as build_loader(..., device="cpu"), made by torchvision."""
    dataset = ShardImages(pipeline, data_dir, batch_size=batch_size, shard_id=shard_id, num_shards=num_shards,
                          seed=seed, options=options)
    per_sample = NUM_ROTATIONS if getattr(dataset.cfg, "all_rotations", False) else 1
    return DataLoader(dataset, batch_size=batch_size * per_sample, num_workers=num_workers,
                      persistent_workers=num_workers > 0, prefetch_factor=4 if num_workers else None)
