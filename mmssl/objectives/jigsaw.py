"""Jigsaw pretext task (Noroozi & Favaro, 2016; ResNet form of Goyal et al., 2019): which of a fixed
set of permutations shuffled the 9 tiles. Each tile goes through the shared backbone; the pooled
features are concatenated in the shuffled order and classified."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmssl.models.embedding import pooled_features, unwrap
from mmssl.models.image_backbone import IMAGE_BACKBONES, ImageBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.classification import pretext_classification_loss
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network


@dataclass
class JigsawConfig:
    backbone: str = "resnet50"
    num_permutations: int = 1000  # size of the permutation set the pipeline draws labels from
    num_tiles: int = 9

    def __post_init__(self):
        if self.backbone not in IMAGE_BACKBONES:
            raise ValueError(f"backbone {self.backbone!r} is not one of {sorted(IMAGE_BACKBONES)}")
        if self.num_permutations < 2 or self.num_tiles < 2:
            raise ValueError(f"need at least 2 permutations and 2 tiles, got {self.num_permutations}, {self.num_tiles}")


class JigsawNetwork(nn.Module):
    def __init__(self, config: JigsawConfig):
        super().__init__()
        self.backbone = ImageBackbone(config.backbone)
        self.classifier = nn.Linear(config.num_tiles * self.backbone.feature_dim, config.num_permutations)

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """Permutation logits [B, num_permutations] for tiles [B, T, 3, h, w]."""
        if tiles.dim() != 5 or tiles.shape[1] * self.backbone.feature_dim != self.classifier.in_features:
            num_tiles = self.classifier.in_features // self.backbone.feature_dim
            raise ValueError(f"Jigsaw tiles must be [B, {num_tiles}, 3, h, w], got {tuple(tiles.shape)}")
        return self.classifier(self.backbone(tiles.flatten(0, 1)).reshape(tiles.shape[0], -1))


class Jigsaw(NetworkStateOnly, nn.Module):
    """Jigsaw objective (no state besides the network)."""

    def __init__(
        self, config: JigsawConfig, num_samples: int = 0, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(seed, lambda: JigsawNetwork(config), device)

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        require_keys(batch, ("tiles", "label"), "Jigsaw")
        loss, accuracy = pretext_classification_loss(model(batch["tiles"]), batch["label"])
        return loss, {"loss": loss.detach(), "accuracy": accuracy}

    def features(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return pooled_features(unwrap(model).backbone, images)

