"""Learning-rate schedule: linear warmup then cosine decay, as a pure function of the step."""

from __future__ import annotations

import math

import torch


def cosine_lr_factor(step: int, total_steps: int, warmup_steps: int = 0, final_fraction: float = 0.0) -> float:
    """Multiplier of the base lr at `step` (0-based) of `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, final_fraction: float):
    """A LambdaLR whose state (its step) goes into checkpoints, so a resumed run keeps its lr."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_lr_factor(step, total_steps, warmup_steps, final_fraction)
    )
