"""Image backbones: torchvision ResNets (no pretrained weights) with the classifier removed.

`forward` gives the pooled feature (what heads and kNN evaluation use); `stage_features` gives the
output of every stage (conv1, res2..res5) for linear evaluation per layer, as in the PIRL paper.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

STAGES = ("conv1", "res2", "res3", "res4", "res5")


def narrow_resnet18(weights=None, width: int = 16) -> torchvision.models.ResNet:
    """ResNet-18's blocks at 1/4 width with a 3x3 stride-1 stem and no max-pool, for small inputs.

    For CPU-sized runs on 8-32 px inputs: on a 2-core AVX2 machine one forward+backward of 288 tiles
    of 8 px takes about 0.2 s, against 2.8 s for torchvision's ResNet-18 (see ../shared/STACK.md).
    """
    from torchvision.models.resnet import BasicBlock

    resnet = torchvision.models.ResNet(BasicBlock, [2, 2, 2, 2])
    resnet.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
    resnet.bn1, resnet.maxpool = nn.BatchNorm2d(width), nn.Identity()
    planes = width
    for number, stride in zip((1, 2, 3, 4), (1, 2, 2, 2)):
        out = width * 2 ** (number - 1)
        down = None if stride == 1 and planes == out else nn.Sequential(
            nn.Conv2d(planes, out, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out))
        setattr(resnet, f"layer{number}", nn.Sequential(BasicBlock(planes, out, stride, down), BasicBlock(out, out)))
        planes = out
    resnet.fc = nn.Linear(planes, 1000)
    return resnet


IMAGE_BACKBONES = {"resnet18": torchvision.models.resnet18, "resnet50": torchvision.models.resnet50,
                   "resnet18_narrow": narrow_resnet18}


class ImageBackbone(nn.Module):
    """A ResNet trunk; `feature_dim` is the pooled feature size (2048 for ResNet-50, 512 for ResNet-18)."""

    def __init__(self, name: str = "resnet50", in_channels: int = 3):
        super().__init__()
        if name not in IMAGE_BACKBONES:
            raise ValueError(f"unknown image backbone {name!r}; choose one of {sorted(IMAGE_BACKBONES)}")
        resnet = IMAGE_BACKBONES[name](weights=None)
        if in_channels != 3:  # e.g. 1 for log-mel spectrograms
            first = resnet.conv1
            resnet.conv1 = nn.Conv2d(in_channels, first.out_channels, kernel_size=first.kernel_size, stride=first.stride,
                                     padding=first.padding, bias=False)
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
