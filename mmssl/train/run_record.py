"""What a run was (`run_spec.json` in its directory) and which checkpoint it ended on.

Evaluation recipes take a run directory and must rebuild the network it trained: the method, its
config and the pipeline options the network saw. JSON, not pickle, so a run directory from elsewhere
cannot run code when it is read.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from mmssl.train.checkpoint import TRAINER_STATE, rank_dir
from mmssl.train.config import ClusterConfig, OptimConfig, RunSpec, TrainConfig

RUN_SPEC_FILE = "run_spec.json"


def write_run_spec(spec: RunSpec, directory: str | os.PathLike) -> Path:
    """Record `spec` in the run directory (overwritten on resume: the latest invocation's settings)."""
    path = Path(directory) / RUN_SPEC_FILE
    record = {
        "method": spec.method,
        "method_config": dataclasses.asdict(spec.method_config),
        "pipeline": spec.pipeline,
        "data_dir": str(spec.data_dir),
        "pipeline_options": spec.pipeline_options,
        "train": dataclasses.asdict(spec.train),
        "optim": dataclasses.asdict(spec.optim),
        "cluster": dataclasses.asdict(spec.cluster),
    }
    path.write_text(json.dumps(record, indent=2, default=str))
    return path


def read_run_spec(run_directory: str | os.PathLike) -> RunSpec:
    """The RunSpec a run directory was trained with; names the file and the fix when it is missing."""
    from mmssl.objectives import METHODS

    path = Path(run_directory) / RUN_SPEC_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: {run_directory} is not an mmssl run directory (runs write {RUN_SPEC_FILE} "
            "when they start); pass the directory a training recipe printed as 'run directory'")
    record = json.loads(path.read_text())
    if record["method"] not in METHODS:
        raise ValueError(f"{path}: unknown method {record['method']!r}; known: {sorted(METHODS)}")
    config_class, _ = METHODS[record["method"]]
    return RunSpec(
        method=record["method"],
        method_config=_dataclass_from(config_class, record["method_config"]),
        pipeline=record["pipeline"],
        data_dir=record["data_dir"],
        pipeline_options=_tuples(record["pipeline_options"]),
        train=_dataclass_from(TrainConfig, record["train"]),
        optim=_dataclass_from(OptimConfig, record["optim"]),
        cluster=_dataclass_from(ClusterConfig, record["cluster"]),
    )


def _dataclass_from(config_class, values: dict):
    """`config_class(**values)`, with JSON lists turned back into the tuples the defaults use."""
    defaults = {field.name: field for field in dataclasses.fields(config_class)}
    fixed = {}
    for name, value in values.items():
        if name not in defaults:
            continue  # a field a later version removed: the current default stands
        default = defaults[name].default
        fixed[name] = tuple(value) if isinstance(value, list) and isinstance(default, tuple) else value
    return config_class(**fixed)


def _tuples(options):
    """Pipeline options as recipes write them: sequences are tuples (JSON made them lists)."""
    if isinstance(options, dict):
        return {name: _tuples(value) for name, value in options.items()}
    return tuple(_tuples(value) for value in options) if isinstance(options, list) else options


def latest_checkpoint(run_directory: str | os.PathLike) -> Path:
    """The run's complete checkpoint with the highest step (Ray Train's `checkpoint_*` directories)."""
    run_directory = Path(run_directory)
    best, best_step = None, -1
    for candidate in run_directory.glob("checkpoint_*"):
        position = rank_dir(candidate, 0) / "loader.json"  # small; the step without loading the weights
        if (candidate / TRAINER_STATE).exists() and position.exists():
            step = int(json.loads(position.read_text())["step"])
            if step > best_step:
                best, best_step = candidate, step
    if best is None:
        raise FileNotFoundError(f"{run_directory} holds no complete checkpoint (checkpoint_*/{TRAINER_STATE}); "
                                "train longer than train.checkpoint_every_steps or pass another run directory")
    return best
