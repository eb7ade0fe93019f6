"""Audio backbones: 2D CNNs over log-mel spectrograms [B, 1, mels, frames].

`resnet18`: the image ResNet-18 with a 1-channel stem. `vgg`: the L3-Net audio subnetwork shape
(four blocks of two 3x3 conv-BN-ReLU layers and a 2x2 max-pool, 64/128/256/512 channels).
`vgg_narrow`: the same at 1/4 width (16-128 channels), for CPU-sized runs. `vgg_narrow_time`: that
one with its last two pools over frequency only, so it keeps one step per 4 input frames (40 ms at a
10 ms hop), for heads that compare sound and video moment by moment (VGG trunks' `timed`).
"""

from __future__ import annotations

import torch
from torch import nn

from mmssl.models.image_backbone import ImageBackbone

AUDIO_BACKBONES = ("resnet18", "vgg", "vgg_narrow", "vgg_narrow_time")


class VGGAudioBackbone(nn.Module):
    """L3-style audio trunk, global max-pooled to [B, 512]. `pools`: each block's max-pool (mels, frames)."""

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256, 512),
                 pools: tuple[tuple[int, int], ...] = ((2, 2),) * 4):
        super().__init__()
        layers, in_channels = [], 1
        for out_channels, pool in zip(channels, pools, strict=True):
            for _ in range(2):
                layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                           nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
                in_channels = out_channels
            layers.append(nn.MaxPool2d(pool))
        self.trunk = nn.Sequential(*layers)
        self.feature_dim = channels[-1]

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.timed(log_mel), dim=2)

    def timed(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Features max-pooled over frequency only: [B, feature_dim, frames']."""
        return torch.amax(self.trunk(log_mel), dim=2)


def build_audio_backbone(name: str = "resnet18") -> nn.Module:
    """An audio trunk with a `feature_dim` attribute; input [B, 1, mels, frames]."""
    if name == "resnet18":
        return _SpectrogramResNet()
    if name == "vgg":
        return VGGAudioBackbone()
    if name == "vgg_narrow":
        return VGGAudioBackbone((16, 32, 64, 128))
    if name == "vgg_narrow_time":
        return VGGAudioBackbone((16, 32, 64, 128), ((2, 2), (2, 2), (2, 1), (2, 1)))
    raise ValueError(f"unknown audio backbone {name!r}; choose one of {AUDIO_BACKBONES}")


class _SpectrogramResNet(ImageBackbone):
    def __init__(self):
        super().__init__("resnet18", in_channels=1)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        if log_mel.dim() != 4 or log_mel.shape[1] != 1:
            raise ValueError(f"log-mel input must be [B, 1, mels, frames], got {tuple(log_mel.shape)}")
        return super().forward(log_mel)
