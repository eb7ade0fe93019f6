"""The training side: a recipe's model stepping on synthetic tensors, then fed by the real loader.

Synthetic: one real batch of the recipe's pipeline, kept in memory and replayed, so the step sees
valid shapes, labels and memory-bank rows but never waits for data: the model's own rate. Fed: the
same model and optimizer taking each batch from the loader (`build_loader` with the recipe's
pipeline, options and batch size), timing the wait in `next()` separately. Two fractions of the fed
step time: `data_wait_fraction`, blocked in `next()`; `data_overhead_fraction`, 1 - synthetic / fed
step time, which adds the CPU the loader's threads take from the model while it computes (on a
small CPU machine the larger part). Both are what a user wants near zero before renting a cluster.
One rank, no DDP; bf16 autocast on a GPU and the recipe's torch threads on a CPU, as the training worker
does.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from mmssl.bench.backends import endless
from mmssl.train.step_settings import optimizer_step

RECIPE_CONFIGS = ("embedded", "full")


def recipe_config(recipe: str, which: str = "embedded"):
    """(method name, RecipeConfig) of `mmssl.recipes.<recipe>`; an unknown name is refused with the choices."""
    try:
        module = importlib.import_module(f"mmssl.recipes.{recipe}")
    except ModuleNotFoundError:
        import pkgutil

        import mmssl.recipes

        choices = sorted(m.name for m in pkgutil.iter_modules(mmssl.recipes.__path__) if not m.name.startswith("_"))
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {choices}") from None
    if which not in RECIPE_CONFIGS:
        raise ValueError(f"recipe config must be one of {RECIPE_CONFIGS}, got {which!r}")
    return module.METHOD, (module.embedded_config() if which == "embedded" else module.full_config())


def measure_training(recipe: str, data_dir: Path, *, steps: int, warmup: int, threads: int, seed: int,
                     which: str = "embedded", batch_size: int | None = None) -> dict:
    """Steps/s synthetic and fed, and the share of the fed step time spent waiting for the loader.

    `batch_size` replaces the recipe's (e.g. to fit one GPU's memory); the learning rate follows it."""
    method_name, config = recipe_config(recipe, which)
    if batch_size is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=batch_size))
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    previous_threads = torch.get_num_threads()
    if device.type == "cpu":  # as the training worker sets it: oversubscribed OpenMP threads spin, not work
        torch.set_num_threads(config.train.torch_threads or max(1, int(config.cluster.cpus_per_worker)))
    try:
        return {"recipe": recipe, "recipe_config": which, "method": method_name, "pipeline": config.pipeline,
                "pipeline_options": config.pipeline_options, "batch_size": config.train.batch_size,
                "loader_threads": threads, "device": str(device), "torch_threads": torch.get_num_threads(),
                "warmup_steps": warmup, "steps": steps,
                **step_rates(method_name, config, data_dir, device, threads=threads, steps=steps, warmup=warmup,
                             seed=seed)}
    finally:
        torch.set_num_threads(previous_threads)


def step_rates(method_name: str, config, data_dir: Path, device: torch.device, *, threads: int, steps: int,
               warmup: int, seed: int) -> dict:
    """Fed by the recipe's loader (after `warmup` steps), then one of its batches replayed with the loader gone."""
    from mmssl.objectives import METHODS
    from mmssl.pipelines.loader import build_loader

    loader = build_loader(config.pipeline, data_dir, batch_size=config.train.batch_size, seed=seed, num_threads=threads,
                          device="gpu" if device.type == "cuda" else "cpu", options=config.pipeline_options)
    torch.manual_seed(seed)
    method = METHODS[method_name][1](config.method, num_samples=loader.num_samples, rank=0, world_size=1, device=device,
                                     seed=seed)
    step = training_step(method, config, device)
    batches = endless(loader)
    for _ in range(warmup):
        step(next(batches))
    fed_s, wait_s = 0.0, 0.0
    for _ in range(steps):
        start = time.perf_counter()
        batch = next(batches)
        waited = time.perf_counter()
        step(batch)
        wait_s, fed_s = wait_s + waited - start, fed_s + time.perf_counter() - start
    kept = next(batches)
    batches.close()  # no loader threads compete with the synthetic steps
    del batches, loader
    gc.collect()
    step(kept)
    start = time.perf_counter()
    for _ in range(steps):
        step(kept)
    synthetic_s = time.perf_counter() - start
    return {"synthetic_steps_per_s": steps / synthetic_s, "fed_steps_per_s": steps / fed_s,
            "data_wait_fraction": wait_s / fed_s, "data_overhead_fraction": 1 - synthetic_s / fed_s}


def training_step(method, config, device: torch.device):
    """One SGD step of `method` on a batch (the worker's optimizer settings, one rank)."""
    optimizer = torch.optim.SGD(method.model.parameters(),
                                lr=config.optim.base_lr * config.train.batch_size / config.optim.base_batch_size,
                                momentum=config.optim.momentum, weight_decay=config.optim.weight_decay)
    bf16 = device.type == "cuda" and config.train.bf16
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else nullcontext()

    def step(batch: dict[str, torch.Tensor]) -> None:
        optimizer_step(method, method.model, optimizer, batch, autocast)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the step's time is its GPU work, not its launch

    return step
