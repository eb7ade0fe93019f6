"""MoCo v1 (He et al., 2020): a momentum encoder (0.999) fills a 65536-key queue of negatives;
InfoNCE at tau 0.07, shuffled BN across ranks, lr 0.03 at batch 256.

    python -m mmssl.recipes.moco                        # embedded default (laptop, CPU)
    python -m mmssl.recipes.moco --data DIR --address auto --num-workers 8 --gpu
"""

from __future__ import annotations

import sys

from mmssl.objectives.moco import MoCoConfig
from mmssl.train.config import ClusterConfig, OptimConfig, TrainConfig
from mmssl.train.recipe_cli import RecipeConfig, run_recipe

METHOD = "moco"  # key of mmssl.objectives.METHODS


def full_config() -> RecipeConfig:
    return RecipeConfig(
        method=MoCoConfig(),
        pipeline="views",
        pipeline_options={"num_views": 2, "blur_p": 0.0},
        train=TrainConfig(epochs=200, batch_size=32, checkpoint_every_steps=1000, log_every_steps=50),
        optim=OptimConfig(base_lr=0.03, base_batch_size=256),
        cluster=ClusterConfig(num_workers=8, use_gpu=True, cpus_per_worker=8),
    )


def embedded_config() -> RecipeConfig:
    return RecipeConfig(
        method=MoCoConfig(backbone="resnet18", queue_size=256),
        pipeline="views",
        pipeline_options={"num_views": 2, "blur_p": 0.0, "image_size": 64},
        train=TrainConfig(epochs=20, max_steps=60, batch_size=32, checkpoint_every_steps=30, log_every_steps=10,
                          loader_threads=1),
        optim=OptimConfig(base_lr=0.03, base_batch_size=64),
        cluster=ClusterConfig(num_workers=2, cpus_per_worker=1),
    )


def main(argv: list[str] | None = None) -> int:
    return run_recipe(METHOD, full_config, embedded_config, prog="mmssl.recipes.moco", description=__doc__, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
