"""One-GPU training runs of the paper-scale recipes on the check's data: `pirl_yfcc` (ResNet-50, bf16,
224 px, the paper's batch of 32 per GPU) and `av_correspondence` (R(2+1)D-18 and the VGG audio net).

Each run is the training worker's loop on one rank without Ray: the recipe's loader on the GPU, the
method, the recipe's optimizer, the worker's step settings (bf16, channels_last, cudnn.benchmark) and
`optimizer_step`, and the worker's `StepMeter` for samples/s and the loader-wait fraction. The first
steps (cuDNN's autotuning, the allocator's growth) are left out of the figures. Peak GPU memory is
torch's allocator peak and nvidia-smi's (which also sees DALI's pools).
"""

from __future__ import annotations

import resource
from contextlib import nullcontext

import torch

from mmssl.bench.backends import endless
from mmssl.bench.gpu_monitor import GpuMonitor
from mmssl.bench.training import recipe_config
from mmssl.gpu_check.sizes import TRAINING_RECIPES
from mmssl.train.progress import StepMeter, host_values
from mmssl.train.schedule import build_optimizer
from mmssl.train.step_settings import StepSettings, compiled, optimizer_step, prepare_model

DATA_OF_PIPELINE = {"pirl": "images", "av_pairs": "videos"}


def check_device(sizes) -> torch.device:
    return torch.device("cuda", 0) if sizes.device == "gpu" else torch.device("cpu")


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels (a timing's end); nothing to wait for on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(recorder, sizes, data: dict) -> None:
    for recipe in TRAINING_RECIPES:
        recorder.record(**{recipe: train_run(recipe, sizes, data)})


def recipe_loader(recipe: str, sizes, data: dict):
    """(method name, recipe config, batch size, device, loader): the recipe's loader on the check's data and device."""
    from mmssl.pipelines.loader import build_loader

    method_name, config = recipe_config(recipe, sizes.recipe_config)
    batch_size = sizes.train_batch_size or config.train.batch_size
    device = check_device(sizes)
    loader = build_loader(config.pipeline, data[DATA_OF_PIPELINE[config.pipeline]]["path"], batch_size=batch_size,
                          device=sizes.device, device_id=device.index, num_threads=sizes.threads,
                          options=config.pipeline_options)
    return method_name, config, batch_size, device, loader


def train_run(recipe: str, sizes, data: dict) -> dict:
    from mmssl.objectives import METHODS

    method_name, config, batch_size, device, loader = recipe_loader(recipe, sizes, data)
    method = METHODS[method_name][1](config.method, num_samples=loader.num_samples, device=device, seed=0)
    optimizer = build_optimizer(method.model.parameters(), config.optim, batch_size)
    settings = StepSettings.for_device(config.train, device)
    model = compiled(prepare_model(method.model, settings), settings, backend=sizes.compile_backend)
    meter, batches = StepMeter(1, batch_size), endless(loader)
    with GpuMonitor() if device.type == "cuda" else nullcontext() as monitor:
        for step in range(sizes.train_warmup_steps + sizes.train_steps):
            if step == sizes.train_warmup_steps:
                meter.summary()  # the warm-up's figures are dropped (it also waits for the warm-up's kernels)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
            batch = next(batches)
            meter.loader_done()
            loss, metrics = optimizer_step(method, model, optimizer, batch, settings.autocast(device))
            meter.step_done(loss)
        figures = meter.summary()
    return {"recipe": recipe, "recipe_config": sizes.recipe_config, "method": method_name, "device": str(device),
            "backbones": _backbones(config.method), "pipeline": config.pipeline, "batch_size": batch_size,
            "settings": vars(settings) | {"compile_backend": sizes.compile_backend},
            "warmup_steps": sizes.train_warmup_steps, "steps": sizes.train_steps,
            "samples_per_s": figures["samples_per_s"], "loader_wait_fraction": figures["loader_wait_fraction"],
            "step_ms": 1000 * batch_size / figures["samples_per_s"], "mean_loss": figures["loss"],
            "last_metrics": host_values(metrics), "memory": peak_memory(device, monitor)}


def peak_memory(device: torch.device, monitor) -> dict:
    """Peak GPU memory (torch's allocator, nvidia-smi's device total), or the host's peak RSS on a CPU run."""
    if device.type == "cuda":
        return {"torch_peak_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20,
                "torch_peak_reserved_mib": torch.cuda.max_memory_reserved(device) / 2**20,
                "nvidia_smi": monitor.summary()}
    return {"gpu": None, "reason": "CPU run (dry run): no GPU memory",
            "host_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _backbones(method_config) -> dict:
    return {name: value for name, value in vars(method_config).items() if name.endswith("backbone")}
