"""Shuffle & Learn (Misra, Zitnick & Hebert, 2016): is a tuple of three frames in temporal order?

One image network, shared by the tuple's three frames (the paper's triplet Siamese network), gives
each frame a feature; the three are concatenated in tuple order and a classifier gives two logits
(0: shuffled, 1: in order); cross-entropy against `label`. The `frame_order` pipeline makes the
tuples: (b, c, d) of a high-motion window a < b < c < d < e in order, (b, a, d) or (b, e, d)
shuffled, as in the paper.

The paper's per-frame network is CaffeNet up to fc7, whose fc6 sees pool5's spatial map: where
things are in the frame reaches the classifier, and order is mostly a matter of where the moving
thing is. A globally pooled ResNet feature would throw that away, so here the trunk's last map is
pooled to a 3x3 grid and a shared fully connected layer (our fc6/fc7) maps it to the frame's
feature. `head`: `linear` (the paper's one layer on the concatenation) or `mlp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmssl.models.embedding import frame_averaged_features, unwrap
from mmssl.models.heads import HEAD_KINDS, projection_head
from mmssl.models.image_backbone import IMAGE_BACKBONES, ImageBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.classification import pretext_classification_loss
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network

TUPLE_FRAMES = 3
IN_ORDER_CLASSES = 2  # 0: shuffled, 1: in order
LAYOUT_GRID = 3  # the last feature map is pooled to LAYOUT_GRID x LAYOUT_GRID cells, keeping coarse layout


@dataclass
class FrameOrderConfig:
    backbone: str = "resnet18"
    head: str = "linear"  # on the concatenated frame features: `linear` (the paper's) or `mlp`

    def __post_init__(self):
        if self.backbone not in IMAGE_BACKBONES or self.head not in HEAD_KINDS:
            raise ValueError(
                f"backbone {self.backbone!r} / head {self.head!r} not in {sorted(IMAGE_BACKBONES)} / {HEAD_KINDS}"
            )


class FrameOrderNetwork(nn.Module):
    """frames [B, 3, 3, H, W] (tuple position, channel, height, width) -> logits [B, 2]."""

    def __init__(self, config: FrameOrderConfig):
        super().__init__()
        self.backbone = ImageBackbone(config.backbone)
        width = self.backbone.feature_dim
        self.frame_fc = nn.Sequential(nn.Linear(LAYOUT_GRID * LAYOUT_GRID * width, width), nn.ReLU(inplace=True))
        self.classifier = projection_head(TUPLE_FRAMES * width, IN_ORDER_CLASSES, config.head)

    def frame_features(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] -> [N, feature_dim]: the last map on a coarse grid, then the shared fc layer."""
        last_map = self.backbone.stage_features(images)["res5"]
        return self.frame_fc(F.adaptive_avg_pool2d(last_map, LAYOUT_GRID).flatten(1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 5 or frames.shape[1:3] != (TUPLE_FRAMES, 3):
            raise ValueError(f"frames must be [B, {TUPLE_FRAMES}, 3, H, W], got {tuple(frames.shape)}")
        features = self.frame_features(frames.flatten(0, 1))  # every frame of every tuple in one pass
        return self.classifier(features.unflatten(0, frames.shape[:2]).flatten(1))  # concatenated in tuple order


class FrameOrder(NetworkStateOnly, nn.Module):
    """Batch (`frame_order`): frames [B, 3, 3, H, W], label [B] (1: in order, 0: shuffled)."""

    def __init__(
        self, config: FrameOrderConfig, num_samples: int = 0, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(seed, lambda: FrameOrderNetwork(config), device)

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        require_keys(batch, ("frames", "label"), "FrameOrder")
        loss, accuracy = pretext_classification_loss(model(batch["frames"]), batch["label"])
        return loss, {"loss": loss.detach(), "accuracy": accuracy}

    def features(self, model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
        """Clips [B, 3, T, H, W] -> the trunk's features averaged over frames (kNN on clips)."""
        return frame_averaged_features(unwrap(model).backbone, clips)
