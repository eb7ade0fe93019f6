"""Image backbones: torchvision ResNets (no pretrained weights) with the classifier removed.

`forward` gives the pooled feature (what heads and kNN evaluation use); `stage_features` gives the
output of every stage (conv1, res2..res5) for linear evaluation per layer, as in the PIRL paper.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

IMAGE_BACKBONES = {"resnet18": torchvision.models.resnet18, "resnet50": torchvision.models.resnet50}
STAGES = ("conv1", "res2", "res3", "res4", "res5")


class ImageBackbone(nn.Module):
    """A ResNet trunk; `feature_dim` is the pooled feature size (2048 for ResNet-50, 512 for ResNet-18)."""

    def __init__(self, name: str = "resnet50", in_channels: int = 3):
        super().__init__()
        if name not in IMAGE_BACKBONES:
            raise ValueError(f"unknown image backbone {name!r}; choose one of {sorted(IMAGE_BACKBONES)}")
        resnet = IMAGE_BACKBONES[name](weights=None)
        if in_channels != 3:  # e.g. 1 for log-mel spectrograms
            resnet.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.conv1 = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu)
        self.res2 = nn.Sequential(resnet.maxpool, resnet.layer1)
        self.res3, self.res4, self.res5 = resnet.layer2, resnet.layer3, resnet.layer4
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = resnet.fc.in_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features [B, feature_dim] of images [B, C, H, W]."""
        return self.pool(self._trunk(images)[-1]).flatten(1)

    def stage_features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stage's feature map, keyed conv1, res2, ..., res5."""
        return dict(zip(STAGES, self._trunk(images)))

    def _trunk(self, images: torch.Tensor) -> list[torch.Tensor]:
        outputs, x = [], images
        for stage in (self.conv1, self.res2, self.res3, self.res4, self.res5):
            x = stage(x)
            outputs.append(x)
        return outputs
