"""Jigsaw pretext (Noroozi & Favaro, 2016), at the scale of Goyal et al. (2019): ResNet-50 classifies
which of K far-apart permutations shuffled the 3x3 tiles (K = 1000 by default).

The set: with `--data`, the paper's rule (`permutation_method="max_avg"`: each next permutation has
the largest mean Hamming distance to those chosen; VISSL's default too). The embedded default keeps
`max_min` (largest minimum distance), what it has always trained on: with only 100 classes and 60
steps, a set whose closest pair differs in 6 tiles rather than 2 or 3 keeps every class tellable
apart. Figures for both in docs/paper_fidelity.md.

    python -m mmssl.recipes.jigsaw                      # embedded default (laptop, CPU)
    python -m mmssl.recipes.jigsaw --data DIR --address auto --num-workers 8 --gpu
"""

from __future__ import annotations

import sys

from mmssl.objectives.jigsaw import JigsawConfig
from mmssl.train.config import ClusterConfig, OptimConfig, TrainConfig
from mmssl.train.recipe_cli import RecipeConfig, run_recipe

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
    return RecipeConfig(
        method=JigsawConfig(backbone="resnet18", num_permutations=100),
        pipeline="jigsaw",
        pipeline_options={"permutations": 100, "permutation_method": "max_min", "tile_crop_px": 96, "tile_px": 24},
        train=TrainConfig(epochs=20, max_steps=60, batch_size=32, checkpoint_every_steps=30, log_every_steps=10,
                          loader_threads=1),
        optim=OptimConfig(base_lr=0.05, base_batch_size=64, warmup_steps=5),
        cluster=ClusterConfig(num_workers=2, cpus_per_worker=1),
    )


def main(argv: list[str] | None = None) -> int:
    return run_recipe(METHOD, full_config, embedded_config, prog="mmssl.recipes.jigsaw", description=__doc__, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
