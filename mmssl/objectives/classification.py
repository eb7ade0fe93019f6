"""Cross-entropy and accuracy for the pretext classification tasks (Jigsaw, rotation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pretext_classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean cross-entropy in float32, top-1 accuracy as a 0-dim tensor on the logits' device); labels out of
    range raise a clear error."""
    labels = labels.to(logits.device, torch.long).reshape(-1)
    num_classes = logits.shape[1]
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"pretext labels must be in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]")
    loss = F.cross_entropy(logits.float(), labels)
    accuracy = (logits.argmax(1) == labels).float().mean()
    return loss, accuracy
