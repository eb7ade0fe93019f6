"""Rotation pretext task (Gidaris et al., 2018): which of 0/90/180/270 degrees the image was rotated by."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmssl.models.embedding import pooled_features, unwrap
from mmssl.models.image_backbone import IMAGE_BACKBONES, ImageBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.classification import pretext_classification_loss
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network

NUM_ROTATIONS = 4


@dataclass
class RotationConfig:
    backbone: str = "resnet50"

    def __post_init__(self):
        if self.backbone not in IMAGE_BACKBONES:
            raise ValueError(f"backbone {self.backbone!r} is not one of {sorted(IMAGE_BACKBONES)}")


class RotationNetwork(nn.Module):
    def __init__(self, config: RotationConfig):
        super().__init__()
        self.backbone = ImageBackbone(config.backbone)
        self.classifier = nn.Linear(self.backbone.feature_dim, NUM_ROTATIONS)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.backbone(image))


class Rotation(NetworkStateOnly, nn.Module):
    """Rotation objective (no state besides the network)."""

    def __init__(
        self, config: RotationConfig, num_samples: int = 0, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(seed, lambda: RotationNetwork(config), device)

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        require_keys(batch, ("image", "label"), "Rotation")
        loss, accuracy = pretext_classification_loss(model(batch["image"]), batch["label"])
        return loss, {"loss": loss.detach(), "accuracy": accuracy}

    def features(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return pooled_features(unwrap(model).backbone, images)

