"""A run directory records what it trained, so evaluation rebuilds the same network."""

import importlib
import json
import pkgutil

import pytest

import mmssl.recipes
from mmssl.objectives import METHODS
from mmssl.train.checkpoint import TRAINER_STATE, rank_dir
from mmssl.train.config import RunSpec
from mmssl.train.recipe_cli import RecipeConfig
from mmssl.train.run_record import latest_checkpoint, read_run_spec, write_run_spec

METHOD_OF_CONFIG = {config_class: name for name, (config_class, _) in METHODS.items()}


def every_training_config():
    for module_info in pkgutil.iter_modules(mmssl.recipes.__path__):
        module = importlib.import_module(f"mmssl.recipes.{module_info.name}")
        for maker in ("full_config", "embedded_config"):
            if hasattr(module, maker):
                config = getattr(module, maker)()
                if isinstance(config, RecipeConfig):
                    yield f"{module_info.name}.{maker}", config


def test_every_recipe_config_round_trips_through_the_run_directory(tmp_path):
    checked = 0
    for name, config in every_training_config():
        spec = RunSpec(METHOD_OF_CONFIG[type(config.method)], config.method, config.pipeline, "/data/x",
                       config.pipeline_options, config.train, config.optim, config.cluster)
        directory = tmp_path / name
        directory.mkdir()
        write_run_spec(spec, directory)
        assert read_run_spec(directory) == spec, name
        checked += 1
    assert checked >= 22  # 11 training recipes, full and embedded


def test_latest_checkpoint_is_the_highest_step_not_the_newest_name(tmp_path):
    for name, step in (("checkpoint_2026-11-23_10-00-00", 300), ("checkpoint_2026-11-23_11-00-00", 200),
                       ("checkpoint_2026-11-23_12-00-00", 400)):
        (rank_dir(tmp_path / name, 0)).mkdir(parents=True)
        (rank_dir(tmp_path / name, 0) / "loader.json").write_text(json.dumps({"step": step}))
        if step != 400:  # the newest is incomplete: its trainer state never landed
            (tmp_path / name / TRAINER_STATE).write_bytes(b"")
    assert latest_checkpoint(tmp_path).name == "checkpoint_2026-11-23_10-00-00"


def test_a_directory_that_is_not_a_run_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an mmssl run directory"):
        read_run_spec(tmp_path)
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        latest_checkpoint(tmp_path)
