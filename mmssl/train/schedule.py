"""Learning rate: scaled to the global batch, linear warmup then cosine decay, a pure function of the step.

The schedule is rebuilt from the step on every start, never restored from a checkpoint: a run resumed
on another number of workers has another global batch, so its lr must follow this run's batch.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from mmssl.train.config import OptimConfig


def cosine_lr_factor(step: int, total_steps: int, warmup_steps: int = 0, final_fraction: float = 0.0) -> float:
    """Multiplier of the base lr at `step` (0-based) of `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def lr_drop_factor(step: int, total_steps: int, drop_at: float = 1.0, factor: float = 1.0) -> float:
    """Step decay on top of the cosine: `factor` from step round(drop_at * total_steps) on (drop_at 1.0: never).

    Why: under a constant lr the last weights are one noisy point of the walk; a last stretch at a
    tenth of the lr settles them (and the BN running averages with them) before the final checkpoint."""
    return factor if drop_at < 1 and step >= round(drop_at * total_steps) else 1.0


def scaled_lr(optim: OptimConfig, global_batch: int) -> float:
    """The linear scaling rule: base_lr at base_batch_size, proportionally more for a bigger global batch."""
    return optim.base_lr * global_batch / optim.base_batch_size


def build_optimizer(parameters: Iterable[torch.nn.Parameter], optim: OptimConfig,
                    global_batch: int) -> torch.optim.Optimizer:
    """The config's optimizer at this run's scaled lr (a checkpoint's state may be loaded into it afterwards)."""
    lr = scaled_lr(optim, global_batch)
    if optim.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=optim.weight_decay)
    return torch.optim.SGD(parameters, lr=lr, momentum=optim.momentum, weight_decay=optim.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, base_lr: float, total_steps: int, warmup_steps: int,
                    final_fraction: float, start_step: int = 0, drop_at: float = 1.0,
                    drop_factor: float = 1.0) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR at `base_lr`, positioned at `start_step` (a resumed run's step).

    `base_lr` overrides whatever lr a loaded optimizer state carries: after a resume on another
    worker count that is the lr of the old global batch."""
    for group in optimizer.param_groups:
        group["initial_lr"] = base_lr
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (cosine_lr_factor(step, total_steps, warmup_steps, final_fraction)
                                 * lr_drop_factor(step, total_steps, drop_at, drop_factor)),
        last_epoch=start_step - 1,
    )
