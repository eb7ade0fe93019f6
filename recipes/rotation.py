"""Rotation prediction (Gidaris et al., 2018): classify 0/90/180/270 degree rotations, with all four
rotations of each image in the same batch.

    python -m mmssl.recipes.rotation                    # embedded default (laptop, CPU)
    python -m mmssl.recipes.rotation --data DIR --address auto --num-workers 8 --gpu
"""

from __future__ import annotations

import sys

from mmssl.objectives.rotation import RotationConfig
from mmssl.train.config import ClusterConfig, OptimConfig, TrainConfig
from mmssl.train.recipe_cli import RecipeConfig, run_recipe

METHOD = "rotation"  # key of mmssl.objectives.METHODS


def full_config() -> RecipeConfig:
    return RecipeConfig(
        method=RotationConfig(),
        pipeline="rotation",
        pipeline_options={"all_rotations": True},
        train=TrainConfig(epochs=35, batch_size=32, checkpoint_every_steps=1000, log_every_steps=50),
        optim=OptimConfig(base_lr=0.1, base_batch_size=192, warmup_steps=500),
        cluster=ClusterConfig(num_workers=8, use_gpu=True, cpus_per_worker=8),
    )


def embedded_config() -> RecipeConfig:
    return RecipeConfig(
        method=RotationConfig(backbone="resnet18"),
        pipeline="rotation",
        pipeline_options={"all_rotations": True, "image_size": 64},
        train=TrainConfig(epochs=20, max_steps=60, batch_size=16, checkpoint_every_steps=30, log_every_steps=10,
                          loader_threads=1),
        optim=OptimConfig(base_lr=0.05, base_batch_size=128, warmup_steps=5),
        cluster=ClusterConfig(num_workers=2, cpus_per_worker=1),
    )


def main(argv: list[str] | None = None) -> int:
    return run_recipe(METHOD, full_config, embedded_config, prog="mmssl.recipes.rotation", description=__doc__,
                      argv=argv)


if __name__ == "__main__":
    sys.exit(main())
