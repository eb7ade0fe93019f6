"""Run directories as training writes them (run_spec.json + a checkpoint), without training: the
evaluation recipes' tests need a network to score, not a good one."""

from pathlib import Path

import torch

from mmssl.eval.knn_report import fresh_method
from mmssl.objectives import METHODS
from mmssl.train.checkpoint import write_rank_files
from mmssl.train.config import RunSpec
from mmssl.train.run_record import write_run_spec

METHOD_OF_CONFIG = {config_class: name for name, (config_class, _) in METHODS.items()}


def run_dir_from_config(root: Path, config, data_dir, perturb: float = 0.0, seed: int = 0) -> Path:
    """A run directory for a recipe config whose one checkpoint holds the initial weights (plus
    Gaussian noise of scale `perturb`, so "trained" differs from "random init" when a test needs it)."""
    spec = RunSpec(METHOD_OF_CONFIG[type(config.method)], config.method, config.pipeline, str(data_dir),
                   config.pipeline_options, config.train, config.optim, config.cluster)
    root.mkdir(parents=True, exist_ok=True)
    write_run_spec(spec, root)
    method = fresh_method(spec, 2)
    state = method.model.state_dict()
    if perturb:
        generator = torch.Generator().manual_seed(seed)
        state = {name: value + perturb * torch.randn(value.shape, generator=generator) if value.is_floating_point()
                 else value for name, value in state.items()}
    write_rank_files(root / "checkpoint_2026-01-01_00-00-00", 0, step=10, epoch=1, world_size=1,
                     method_state=method.checkpoint_state(), loader_checkpoint=None,
                     trainer_state={"model": state, "optimizer": {}})
    return root
