"""Video backbones: torchvision R(2+1)D-18 and R3D-18 (no pretrained weights), classifier removed."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

VIDEO_BACKBONES = {"r2plus1d_18": torchvision.models.video.r2plus1d_18, "r3d_18": torchvision.models.video.r3d_18}


class VideoBackbone(nn.Module):
    """Clips [B, 3, T, H, W] -> pooled features [B, feature_dim] (512)."""

    def __init__(self, name: str = "r2plus1d_18"):
        super().__init__()
        if name not in VIDEO_BACKBONES:
            raise ValueError(f"unknown video backbone {name!r}; choose one of {sorted(VIDEO_BACKBONES)}")
        network = VIDEO_BACKBONES[name](weights=None)
        self.feature_dim = network.fc.in_features
        network.fc = nn.Identity()  # its forward already pools and flattens
        self.network = network

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ValueError(f"video clips must be [B, 3, T, H, W], got {tuple(clips.shape)}")
        return self.network(clips)
