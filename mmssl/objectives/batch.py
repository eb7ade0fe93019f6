"""Checks on the batch dicts the pipelines hand to the objectives."""

from __future__ import annotations

import torch


def require_keys(batch: dict[str, torch.Tensor], keys: tuple[str, ...], method: str) -> None:
    """Raise a KeyError naming what is missing and what the pipeline provided."""
    missing = [key for key in keys if key not in batch]
    if missing:
        raise KeyError(
            f"{method} needs batch keys {list(keys)}; missing {missing} (batch has {sorted(batch)}): "
            f"use the {method} pipeline"
        )
