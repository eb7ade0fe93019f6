"""Every recipe's pipeline feeds its method: one real training step per recipe, no Ray.

Also: the paper-scale configs are valid, and the embedded defaults are small enough for a laptop.
"""

import importlib

import pytest
import torch

from mmssl.objectives import METHODS
from mmssl.pipelines.loader import build_loader, make_config
from mmssl.train.recipe_cli import build_parser, resolve_config

RECIPES = ["pirl_yfcc", "jigsaw", "rotation", "npid", "simclr", "moco"]


@pytest.mark.parametrize("name", RECIPES)
def test_embedded_recipe_takes_a_training_step(name, image_dataset):
    recipe = importlib.import_module(f"mmssl.recipes.{name}")
    config = recipe.embedded_config()
    assert config.method.backbone in ("resnet18", "resnet18_narrow") and config.cluster.use_gpu is False
    loader = build_loader(config.pipeline, image_dataset, batch_size=4, num_threads=1, options=config.pipeline_options)
    batch = next(iter(loader))
    torch.manual_seed(0)
    method = METHODS[recipe.METHOD][1](config.method, num_samples=64)
    loss, metrics = method.training_step(method.model, batch)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    first_conv = method.model.state_dict(keep_vars=True)
    grads = [p.grad for n, p in first_conv.items() if "conv1" in n and getattr(p, "grad", None) is not None]
    assert grads and grads[0].abs().sum() > 0  # the loss reaches the backbone's first layer


@pytest.mark.parametrize("name", RECIPES)
def test_full_config_is_valid(name):
    recipe = importlib.import_module(f"mmssl.recipes.{name}")
    config = recipe.full_config()
    make_config(config.pipeline, config.pipeline_options)
    assert config.cluster.use_gpu is True
    assert type(config.method) is METHODS[recipe.METHOD][0]


def test_pirl_defaults_are_the_papers():
    config = importlib.import_module("mmssl.recipes.pirl_yfcc").full_config()
    method = config.method
    assert (method.backbone, method.embed_dim, method.temperature, method.loss_weight) == ("resnet50", 128, 0.07, 0.5)
    assert (method.memory_momentum, method.num_negatives, method.loss_form) == (0.5, 32000, "nce")
    assert method.nce_normalizer == "vissl_shared"  # one Z from the tile term, as the authors' code
    assert (config.optim.momentum, config.optim.weight_decay) == (0.9, 1e-4)
    tiles = make_config(config.pipeline, config.pipeline_options)
    assert (tiles.image_size, tiles.tile_crop_px, tiles.tile_grid, tiles.tile_px) == (224, 255, 3, 64)


def test_jigsaw_runs_with_data_use_the_papers_permutation_rule():
    recipe = importlib.import_module("mmssl.recipes.jigsaw")
    full = make_config(recipe.full_config().pipeline, recipe.full_config().pipeline_options)
    embedded = make_config(recipe.embedded_config().pipeline, recipe.embedded_config().pipeline_options)
    assert (full.permutations, full.permutation_method) == (1000, "max_avg")  # Noroozi & Favaro's Algorithm 1
    assert (full.tile_grid, full.tile_flip) == (3, True)
    # the laptop default: all 24 orders of a 2 x 2 grid, tiles not mirrored (recipes/jigsaw.py says why)
    assert (embedded.permutations, embedded.tile_grid, embedded.tile_flip) == (24, 2, False)


def test_command_line_flags_and_overrides():
    recipe = importlib.import_module("mmssl.recipes.pirl_yfcc")
    args = build_parser("x", "y").parse_args(
        ["--data", "/d", "--address", "auto", "--num-workers", "4", "--cpu", "--name", "r1",
         "--set", "cluster.num_workers=6", "--set", "method.num_negatives=1000"])
    config = resolve_config(recipe.full_config(), args)
    assert config.cluster.address == "auto" and config.cluster.use_gpu is False and config.cluster.name == "r1"
    assert config.cluster.num_workers == 6  # --set wins over the flag
    assert config.method.num_negatives == 1000


def test_missing_dataset_is_named(tmp_path, capsys):
    recipe = importlib.import_module("mmssl.recipes.pirl_yfcc")
    assert recipe.main(["--data", str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert "nowhere/manifest.parquet not found" in error and "prepare_data.py" in error
