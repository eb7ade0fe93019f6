"""Tracking contrast (after Wang & Gupta, 2015): a patch and the same object tracked some frames
later are positives; patches from other videos are negatives. Contrastive (InfoNCE) in place of
the original ranking loss, on an image backbone. The keys are gathered with gradient from every
rank (`all_gather_with_grad`), so the cross-rank negatives train too.

A pair the tracker does not vouch for (`tracked` == 0: a static region, or a track that lost
confidence) contributes no anchor to the loss; its tracked patch stays a key, a negative for the
other anchors. Every rank keeps its full batch (the gathered keys need equal sizes), so untrusted
anchors are left out of the loss, not out of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmssl.memory.collectives import all_gather_cat, all_gather_with_grad, all_reduce_sum_, world_rank_and_size
from mmssl.models.embedding import frame_averaged_features, image_embedding_network, unwrap
from mmssl.models.heads import HEAD_KINDS
from mmssl.models.image_backbone import IMAGE_BACKBONES
from mmssl.objectives.batch import require_keys
from mmssl.objectives.instance_contrast import instance_contrast_loss
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network


@dataclass
class TrackingConfig:
    backbone: str = "resnet50"
    embed_dim: int = 128
    temperature: float = 0.1
    head: str = "mlp"

    def __post_init__(self):
        if self.backbone not in IMAGE_BACKBONES or self.head not in HEAD_KINDS:
            raise ValueError(
                f"backbone {self.backbone!r} / head {self.head!r} not in {sorted(IMAGE_BACKBONES)} / {HEAD_KINDS}"
            )
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


def trusted_pairs_loss(
    anchors: torch.Tensor, keys: torch.Tensor, videos: torch.Tensor, trusted: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Instance contrast of this rank's trusted anchors [b, d] against every rank's keys [b, d] (gathered
    here), averaged over the trusted anchors of all ranks; `videos` [b] mask same-video keys.

    Scaled for DDP: each rank returns (its trusted anchors' summed loss) * world_size / (trusted
    anchors on all ranks), so DDP's gradient average is the gradient of the mean over all trusted
    anchors. No trusted anchor anywhere: 0, still connected to the keys (their gather's backward is
    a collective every rank must run).
    """
    rank, world_size = world_rank_and_size()
    local = anchors.shape[0]
    all_keys, all_videos = all_gather_with_grad(keys), all_gather_cat(videos)
    rows = trusted.to(anchors.device).bool().nonzero().flatten()
    count = all_reduce_sum_(torch.tensor([float(rows.numel())], device=anchors.device))
    if rows.numel() == 0:
        return 0.0 * all_keys.sum()
    # the trusted anchors' own keys first, then every other key: key order does not change the loss
    own = rank * local + rows
    others = torch.ones(all_keys.shape[0], dtype=torch.bool, device=all_keys.device)
    others[own] = False
    ordered_keys = torch.cat([all_keys[own], all_keys[others]])
    ordered_videos = torch.cat([all_videos[own], all_videos[others]])
    mean = instance_contrast_loss(anchors[rows], ordered_keys, 0, temperature, videos[rows], ordered_videos)
    return mean * rows.numel() * world_size / count.clamp_min(1.0)


class Tracking(NetworkStateOnly, nn.Module):
    """Batch (`tracked_patches`): patch_a, patch_b [B, 3, h, w] (a patch and its tracked later self),
    index [B] (video index), tracked [B] (1: the pair is trusted as a positive)."""

    def __init__(
        self, config: TrackingConfig, num_samples: int = 0, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(
            seed, lambda: image_embedding_network(config.backbone, config.embed_dim, config.head), device
        )

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        require_keys(batch, ("patch_a", "patch_b", "index", "tracked"), "Tracking")
        local = batch["patch_a"].shape[0]
        embeddings = model(torch.cat([batch["patch_a"], batch["patch_b"]]))  # one forward: BN sees both
        videos = batch["index"].to(embeddings.device)
        tracked = batch["tracked"]
        loss = trusted_pairs_loss(embeddings[:local], embeddings[local:], videos, tracked, self.config.temperature)
        return loss, {"loss": loss.detach(), "tracked_fraction": tracked.float().mean()}

    def features(self, model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
        """Clips [B, 3, T, H, W] -> the image backbone's features averaged over frames (kNN on clips)."""
        return frame_averaged_features(unwrap(model).backbone, clips)
