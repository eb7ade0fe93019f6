"""Jigsaw pretext (Noroozi & Favaro, 2016), at the scale of Goyal et al. (2019): ResNet-50 classifies
which of K far-apart permutations shuffled the 3x3 tiles (K = 1000 by default).

The set: with `--data`, the paper's rule (`permutation_method="max_avg"`: each next permutation has
the largest mean Hamming distance to those chosen; VISSL's default too). The embedded default puts
4 tiles in all 24 orders (see embedded_config). Figures for both rules in docs/paper_fidelity.md.

    python -m mmssl.recipes.jigsaw                      # embedded default (laptop, CPU)
    python -m mmssl.recipes.jigsaw --data DIR --address auto --num-workers 8 --gpu
"""

from __future__ import annotations

import sys

from mmssl.objectives.jigsaw import JigsawConfig
from mmssl.train.config import ClusterConfig, OptimConfig, TrainConfig
from mmssl.train.embedded import embedded_adam
from mmssl.train.recipe_cli import OBJECT_KNN, RecipeConfig, run_recipe

METHOD = "jigsaw"  # key of mmssl.objectives.METHODS


def full_config() -> RecipeConfig:
    return RecipeConfig(
        method=JigsawConfig(num_permutations=1000),
        pipeline="jigsaw",
        pipeline_options={"permutations": 1000, "permutation_method": "max_avg"},
        train=TrainConfig(epochs=90, batch_size=32, checkpoint_every_steps=1000, log_every_steps=50),
        optim=OptimConfig(base_lr=0.1, base_batch_size=256, warmup_steps=500),
        cluster=ClusterConfig(num_workers=8, use_gpu=True, cpus_per_worker=8),
    )


def embedded_config() -> RecipeConfig:
    """A couple of minutes on a 2-core laptop, on images of one centred object each
    (`mmssl.train.embedded.embedded_object_dataset`; the other image recipes' texture-like structure
    families look alike tile by tile, and the pretext stayed at chance on them in every variant tried).
    Ours, for that budget: a 2 x 2 grid of 20 px tiles from 48 px crops, all 24 orders of the four
    tiles, the narrow ResNet-18, Adam, 300 steps (the pretext leaves chance between steps 60 and 180,
    by seed). Tiles keep their own colour jitter but are not mirrored (`tile_flip`; Noroozi & Favaro's
    tiles are not): a mirrored top-left quarter of a centred shape is its top-right one. Figures in
    docs/learning.md."""
    return RecipeConfig(
        method=JigsawConfig(backbone="resnet18_narrow", num_permutations=24, num_tiles=4),
        pipeline="jigsaw",
        pipeline_options={"permutations": 24, "permutation_method": "max_min", "tile_grid": 2, "tile_crop_px": 48,
                          "tile_px": 20, "tile_flip": False},
        train=TrainConfig(epochs=60, max_steps=300, batch_size=32, checkpoint_every_steps=150, log_every_steps=25,
                          loader_threads=1),
        optim=embedded_adam(),
        cluster=ClusterConfig(num_workers=2, cpus_per_worker=1),
    )


def main(argv: list[str] | None = None) -> int:
    return run_recipe(METHOD, full_config, embedded_config, prog="mmssl.recipes.jigsaw", description=__doc__, argv=argv,
                      embedded_run=OBJECT_KNN)


if __name__ == "__main__":
    sys.exit(main())
