"""Temporal contrast: two clips of the same video are positives; clips of other videos in the
global batch are the negatives (`instance_contrast.instance_contrast_loss`). The keys are gathered
with gradient from every rank (`all_gather_with_grad`), so the cross-rank negatives train too.

Optional hard negative (`far_negative_min_gap_s`): the `temporal` pipeline's far clip of the same
video (with `far_clip=True`). Every far clip joins the keys; each anchor's own far clip counts as a
negative when it starts at least `far_negative_min_gap_s` from clip a (a short video may not have a
clip that far), and other videos' far clips are ordinary negatives. For anchor i with positive p_i,
cosine similarity s and keys K_i (other videos' b clips, every far clip but an own one too close):

    L_i = -log( exp(s(a_i, p_i) / t) / (exp(s(a_i, p_i) / t) + sum_{k in K_i} exp(s(a_i, k) / t)) )

symmetric in a and b (both directions share the keys' far clips).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmssl.memory.collectives import all_gather_cat, all_gather_with_grad, world_rank_and_size
from mmssl.models.embedding import EmbeddingNetwork, pooled_features, unwrap
from mmssl.models.heads import HEAD_KINDS
from mmssl.models.video_backbone import VIDEO_BACKBONES, VideoBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.instance_contrast import instance_contrast_loss
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network


@dataclass
class TemporalConfig:
    backbone: str = "r2plus1d_18"
    embed_dim: int = 128
    temperature: float = 0.1
    head: str = "mlp"
    # None: no far clip. Else the far clip is a negative when |far_gap_s| >= this: set it to the
    # pipeline's min_far_gap_s and turn on the pipeline's far_clip
    far_negative_min_gap_s: float | None = None

    def __post_init__(self):
        if self.backbone not in VIDEO_BACKBONES or self.head not in HEAD_KINDS:
            raise ValueError(
                f"backbone {self.backbone!r} / head {self.head!r} not in {sorted(VIDEO_BACKBONES)} / {HEAD_KINDS}"
            )
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.far_negative_min_gap_s is not None and self.far_negative_min_gap_s <= 0:
            raise ValueError(f"far_negative_min_gap_s must be positive or None, got {self.far_negative_min_gap_s}")


def temporal_contrast_loss(
    clip_a: torch.Tensor, clip_b: torch.Tensor, videos: torch.Tensor, temperature: float,
    clip_far: torch.Tensor | None = None, far_is_negative: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric instance contrast of this rank's clip embeddings [b, d] (a <-> b) against every rank's
    keys; `videos` [b] (manifest index) masks other clips of the same video. With `clip_far` [b, d],
    every far clip is a key too, and a far clip is a negative for its own video's anchors where
    `far_is_negative` [b] (bool) says so. Every rank must hold the same batch size."""
    rank, _ = world_rank_and_size()
    local = clip_a.shape[0]
    keys_for_a, keys_for_b = all_gather_with_grad(clip_b), all_gather_with_grad(clip_a)
    key_videos = all_gather_cat(videos)
    if clip_far is not None:
        # a far clip's group: its video (masked for that video's anchors), or, as a hard negative, a
        # group of its own (-1 - its global position) that no anchor shares
        position = rank * local + torch.arange(local, device=videos.device)
        far_groups = torch.where(far_is_negative.to(videos.device), -1 - position, videos)
        all_far = all_gather_with_grad(clip_far)
        keys_for_a, keys_for_b = torch.cat([keys_for_a, all_far]), torch.cat([keys_for_b, all_far])
        key_videos = torch.cat([key_videos, all_gather_cat(far_groups)])
    return 0.5 * (
        instance_contrast_loss(clip_a, keys_for_a, rank * local, temperature, videos, key_videos)
        + instance_contrast_loss(clip_b, keys_for_b, rank * local, temperature, videos, key_videos)
    )


class Temporal(NetworkStateOnly, nn.Module):
    """Batch: clip_a, clip_b [B, 3, T, H, W] (two times of one video), index [B] (the video's index);
    with a far negative also clip_far [B, 3, T, H, W] and far_gap_s [B].

    The loss is symmetric (a -> b and b -> a); every rank must hold the same batch size.
    """

    def __init__(
        self, config: TemporalConfig, num_samples: int = 0, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(seed, lambda: EmbeddingNetwork(VideoBackbone(config.backbone), config.embed_dim, config.head), device)

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        min_gap_s = self.config.far_negative_min_gap_s
        far_keys = ("clip_far", "far_gap_s") if min_gap_s is not None else ()
        require_keys(batch, ("clip_a", "clip_b", "index", *far_keys), "Temporal")
        local = batch["clip_a"].shape[0]
        clips = [batch[name] for name in ("clip_a", "clip_b", *far_keys[:1])]
        embeddings = model(torch.cat(clips)).split(local)  # one forward: BN sees every clip
        videos = batch["index"].to(embeddings[0].device)
        metrics = {}
        if min_gap_s is None:
            loss = temporal_contrast_loss(embeddings[0], embeddings[1], videos, self.config.temperature)
        else:
            far_is_negative = batch["far_gap_s"].abs() >= min_gap_s
            loss = temporal_contrast_loss(embeddings[0], embeddings[1], videos, self.config.temperature,
                                          embeddings[2], far_is_negative)
            metrics["far_negative_fraction"] = far_is_negative.float().mean()
        return loss, {"loss": loss.detach(), **metrics}

    def features(self, model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
        return pooled_features(unwrap(model).backbone, clips)
