"""PIRL (Misra & van der Maaten, 2020) on YFCC-style uncurated images.

Paper defaults: ResNet-50, 128-d embeddings, NCE with a memory bank (tau 0.07, lambda 0.5,
32000 negatives, EMA 0.5), Jigsaw transform (255 crop, 3x3 cells, 64 px tiles), SGD momentum 0.9,
weight decay 1e-4, lr 0.12 at batch 1024 (32 per GPU), cosine schedule.

    python -m mmssl.recipes.pirl_yfcc                         # embedded default (laptop, CPU)
    python -m mmssl.recipes.pirl_yfcc --data DIR --address auto --num-workers 32 --gpu
    python -m mmssl.recipes.pirl_yfcc --data DIR --set pipeline=pirl_rotation   # Jigsaw+Rotation transform
"""

from __future__ import annotations

import sys

from mmssl.objectives.pirl import PIRLConfig
from mmssl.train.config import ClusterConfig, OptimConfig, TrainConfig
from mmssl.train.recipe_cli import RecipeConfig, run_recipe

METHOD = "pirl"  # key of mmssl.objectives.METHODS


def full_config() -> RecipeConfig:
    """The paper's recipe, for a GPU cluster and a prepared YFCC dataset."""
    return RecipeConfig(
        method=PIRLConfig(),
        pipeline="pirl",
        pipeline_options={},
        train=TrainConfig(epochs=200, batch_size=32, checkpoint_every_steps=1000, log_every_steps=50),
        optim=OptimConfig(base_lr=0.12, base_batch_size=1024, warmup_steps=500),
        cluster=ClusterConfig(num_workers=8, use_gpu=True, cpus_per_worker=8),
    )


def embedded_config() -> RecipeConfig:
    """A few minutes on a 2-core laptop: ResNet-18, small crops, two CPU workers, the paper's loss."""
    return RecipeConfig(
        method=PIRLConfig(backbone="resnet18", num_negatives=256),
        pipeline="pirl",
        pipeline_options={"image_size": 96, "tile_crop_px": 96, "tile_px": 24},
        train=TrainConfig(epochs=20, max_steps=120, batch_size=32, checkpoint_every_steps=40, log_every_steps=10,
                          loader_threads=1),
        optim=OptimConfig(base_lr=0.12, base_batch_size=64, warmup_steps=10),
        cluster=ClusterConfig(num_workers=2, use_gpu=False, cpus_per_worker=1, storage_path="~/mmssl_runs"),
    )


def main(argv: list[str] | None = None) -> int:
    return run_recipe(METHOD, full_config, embedded_config, prog="mmssl.recipes.pirl_yfcc",
                      description=__doc__, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
