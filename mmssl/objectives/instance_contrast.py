"""Contrast of anchors against positives from the pipeline, with other instances as negatives: the
temporal objective (two clips of one video) and the tracking objective (a patch and the same patch
tracked a few frames later) are both this loss.

Keys are the positives of the whole global batch; the keys that share the anchor's group (same
video), other than its own positive, are left out, so negatives come only from other videos.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def instance_contrast_loss(
    anchors: torch.Tensor,
    all_positives: torch.Tensor,
    offset: int,
    temperature: float,
    groups: torch.Tensor | None = None,
    all_groups: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Mean InfoNCE of anchors [b, d] whose positives are all_positives[offset : offset + b] among
    all_positives [n, d]; `groups` [b] / `all_groups` [n] (e.g. video ids) mask same-group keys.
    `reduction="none"`: each anchor's loss [b], for callers that weigh anchors."""
    local = anchors.shape[0]
    dtype = torch.promote_types(anchors.dtype, torch.float32)
    with torch.autocast(anchors.device.type, enabled=False):
        logits = F.normalize(anchors.to(dtype), dim=1) @ F.normalize(all_positives.to(dtype), dim=1).T / temperature
    own = torch.arange(local, device=logits.device) + offset
    if groups is not None:
        same_group = groups[:, None].to(logits.device) == all_groups[None, :].to(logits.device)
        same_group[torch.arange(local), own] = False  # keep the positive
        logits = logits.masked_fill(same_group, float("-inf"))
    return F.cross_entropy(logits, own, reduction=reduction)
