"""Rotation prediction (Gidaris et al., 2018): classify 0/90/180/270 degree rotations, with all four
rotations of each image in the same batch.

    python -m mmssl.recipes.rotation                    # embedded default (laptop, CPU)
    python -m mmssl.recipes.rotation --data DIR --address auto --num-workers 8 --gpu
"""

from __future__ import annotations

import sys

from mmssl.objectives.rotation import RotationConfig
from mmssl.train.config import ClusterConfig, OptimConfig, TrainConfig
from mmssl.train.embedded import EMBEDDED_IMAGE_VIEW, EMBEDDED_STRONG_COLOR, embedded_adam
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
    """A narrow ResNet-18 on 32 px views without colour as a cue (mmssl.train.embedded), all four
    rotations of 2 x 16 images a step, Adam, 150 steps. Held-out kNN in docs/learning.md. The generated
    classes are nearly rotation-free (discs, rings, boxes and checkerboards look the same turned a
    quarter; stripes a half), so the pretext accuracy stays near chance (0.28 against 0.25 after 150
    steps) while the features still separate the classes better than at random init. The former
    default (ResNet-18, 64 px, SGD, 60 steps) scored 0.254 against 0.275."""
    return RecipeConfig(
        method=RotationConfig(backbone="resnet18_narrow"),
        pipeline="rotation",
        pipeline_options={"all_rotations": True, **EMBEDDED_IMAGE_VIEW, "image_color": EMBEDDED_STRONG_COLOR},
        train=TrainConfig(epochs=40, max_steps=150, batch_size=16, checkpoint_every_steps=75, log_every_steps=25,
                          loader_threads=1),
        optim=embedded_adam(),
        cluster=ClusterConfig(num_workers=2, cpus_per_worker=1),
    )


def main(argv: list[str] | None = None) -> int:
    return run_recipe(METHOD, full_config, embedded_config, prog="mmssl.recipes.rotation", description=__doc__,
                      argv=argv)


if __name__ == "__main__":
    sys.exit(main())
