"""Step time of `pirl_yfcc` with and without each of the step settings, added one at a time:

  1. baseline: every metric read each step (one `.item()` per metric, as the objectives did before),
     NCHW trunks, cuDNN's default algorithms, eager PyTorch;
  2. + metrics kept on the device, read at log steps only;
  3. + channels_last convolution trunks;
  4. + cudnn.benchmark;
  5. + torch.compile (last: its compile time is the one that can run out the part's time).

Each variant starts from the same seeded network and replays one real batch of the recipe's loader,
so the step is all that is timed. Reads of tensor values into Python are counted over one step of the
first and last variants (`HostReads`); on a GPU, CUDA's own sync counter (`set_sync_debug_mode`) counts
the steps' synchronizations too.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace

import torch

from mmssl.gpu_check.training import recipe_loader, synchronize
from mmssl.train.host_reads import HostReads
from mmssl.train.progress import host_values
from mmssl.train.schedule import build_optimizer
from mmssl.train.step_settings import StepSettings, compiled, optimizer_step, prepare_model

RECIPE = "pirl_yfcc"
LOG_EVERY_STEPS = 10


def variants(bf16: bool) -> list[tuple[str, StepSettings, bool]]:
    """(name, settings, read metrics every step), each adding one change to the one before."""
    base = StepSettings(bf16=bf16)
    return [("baseline: metrics read every step", base, True),
            ("+ metrics read at log steps", base, False),
            ("+ channels_last", replace(base, channels_last=True), False),
            ("+ cudnn.benchmark", replace(base, channels_last=True, cudnn_benchmark=True), False),
            ("+ torch.compile", replace(base, channels_last=True, cudnn_benchmark=True, compile=True), False)]


def run(recorder, sizes, data: dict) -> None:
    from mmssl.objectives import METHODS

    method_name, config, batch_size, device, loader = recipe_loader(RECIPE, sizes, data)
    batch, num_samples = next(iter(loader)), loader.num_samples
    del loader  # no loader threads compete with the timed steps
    rows = []
    for position, (name, settings, read_every_step) in enumerate(variants(device.type == "cuda" and config.train.bf16)):
        method = METHODS[method_name][1](config.method, num_samples=num_samples, device=device, seed=0)
        optimizer = build_optimizer(method.model.parameters(), config.optim, batch_size)
        model = compiled(prepare_model(method.model, settings), settings, backend=sizes.compile_backend)

        def step(index: int) -> None:
            loss, metrics = optimizer_step(method, model, optimizer, batch, settings.autocast(device))
            if read_every_step:
                float(loss.detach()), {name: float(value) for name, value in metrics.items()}  # as before
            elif (index + 1) % LOG_EVERY_STEPS == 0:
                host_values(metrics)

        for index in range(sizes.hygiene_warmup_steps):
            step(index)
        row = {"variant": name, "settings": vars(settings), "metrics_read_every_step": read_every_step,
               "step_ms": timed_step_ms(step, sizes.hygiene_steps, device)}
        if position in (0, len(variants(False)) - 1):
            row |= syncs_of_one_step(step, device)
        rows.append(row)
        for earlier in rows:
            earlier["x_baseline"] = rows[0]["step_ms"] / earlier["step_ms"]
        recorder.record(recipe=RECIPE, recipe_config=sizes.recipe_config, batch_size=batch_size, device=str(device),
                        compile_backend=sizes.compile_backend, warmup_steps=sizes.hygiene_warmup_steps,
                        timed_steps=sizes.hygiene_steps, log_every_steps=LOG_EVERY_STEPS, variants=rows)
    torch.backends.cudnn.benchmark = False


def timed_step_ms(step, steps: int, device: torch.device) -> float:
    """Mean wall ms of `steps` steps, from the first launch to the last kernel's end."""
    synchronize(device)
    start = time.perf_counter()
    for index in range(steps):
        step(index)
    synchronize(device)
    return 1000 * (time.perf_counter() - start) / steps


def syncs_of_one_step(step, device: torch.device) -> dict:
    """Reads of tensor values into Python in a plain step and in a log step, and CUDA's count of
    synchronizing calls in each (on a GPU)."""
    counted = {}
    for kind, index in (("step", 0), ("log_step", LOG_EVERY_STEPS - 1)):
        with HostReads() as reads:
            step(index)
        counted |= {f"host_reads_per_{kind}": reads.count, f"host_reads_in_{kind}": sorted({n for n, _ in reads.calls})}
        if device.type == "cuda":
            counted[f"cuda_syncs_per_{kind}"] = cuda_syncs(step, index, device)
    if device.type != "cuda":
        counted["cuda_syncs"] = "not counted: CPU run, no CUDA stream to wait for"
    return counted


def cuda_syncs(step, index: int, device: torch.device) -> int:
    """Synchronizing CUDA calls in one step, as CUDA's sync debug mode reports them."""
    synchronize(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step(index)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)

