"""Video backbones: torchvision R(2+1)D-18 and R3D-18 (no pretrained weights), classifier removed,
and quarter-width R3D-18s for CPU-sized runs: one with R3D-18's layout, and one that keeps every
input frame to the end (`r3d_18_narrow_time`), for heads that compare video and sound moment by moment."""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models.video.resnet import BasicBlock, Conv3DSimple, VideoResNet


def narrow_r3d_18(weights=None, width: int = 16, keep_time: bool = False) -> VideoResNet:
    """R3D-18's blocks at 1/4 width (16-128 channels), for the embedded defaults on a 2-core CPU.

    Same layout as torchvision's R3D-18 (3x7x7 stem at spatial stride 2, four stages of two 3x3x3
    basic blocks, strides 1, 2, 2, 2 in time and space), about 1/16 of its compute. `keep_time`:
    the stages stride in space only, so the output has one step per input frame, and a 3x3 max-pool
    at stride 2 follows the stem (as in the 2D ResNets); about half the compute of the other at 4
    frames of 64 px (forward+backward, batch 32, one thread: 0.25 s against 0.54 s on a 2-core Xeon).
    """
    network = VideoResNet(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], stem=torchvision.models.video.resnet.BasicStem)
    stem = [nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width), nn.ReLU(inplace=True)]
    network.stem = nn.Sequential(*stem, *([nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))] if keep_time else []))
    planes = width
    for number, stride in zip((1, 2, 3, 4), (1, 2, 2, 2)):
        out = width * 2 ** (number - 1)
        strides = (1, stride, stride) if keep_time else stride
        down = None if stride == 1 and planes == out else nn.Sequential(
            nn.Conv3d(planes, out, kernel_size=1, stride=strides, bias=False), nn.BatchNorm3d(out))
        blocks = [BasicBlock(planes, out, Conv3DSimple, strides, down), BasicBlock(out, out, Conv3DSimple)]
        setattr(network, f"layer{number}", nn.Sequential(*blocks))
        planes = out
    network.fc = nn.Linear(planes, 400)
    if keep_time:  # torchvision's R3D init, which VideoResNet ran on the modules replaced above
        for module in network.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return network


def narrow_r3d_18_keep_time(weights=None) -> VideoResNet:
    return narrow_r3d_18(weights, keep_time=True)


VIDEO_BACKBONES = {"r2plus1d_18": torchvision.models.video.r2plus1d_18, "r3d_18": torchvision.models.video.r3d_18,
                   "r3d_18_narrow": narrow_r3d_18, "r3d_18_narrow_time": narrow_r3d_18_keep_time}


class VideoBackbone(nn.Module):
    """Clips [B, 3, T, H, W] -> pooled features [B, feature_dim] (512; 128 for the narrow R3D-18s);
    `timed` gives them per time step, [B, feature_dim, T'] (T' = T for `r3d_18_narrow_time`)."""

    def __init__(self, name: str = "r2plus1d_18"):
        super().__init__()
        if name not in VIDEO_BACKBONES:
            raise ValueError(f"unknown video backbone {name!r}; choose one of {sorted(VIDEO_BACKBONES)}")
        network = VIDEO_BACKBONES[name](weights=None)
        self.feature_dim = network.fc.in_features
        network.fc = nn.Identity()  # its forward already pools and flattens
        self.network = network

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        self._check(clips)
        return self.network(clips)

    def timed(self, clips: torch.Tensor) -> torch.Tensor:
        """Features averaged over space only; their mean over time is `forward`'s output."""
        self._check(clips)
        net = self.network
        return net.layer4(net.layer3(net.layer2(net.layer1(net.stem(clips))))).mean(dim=(3, 4))

    @staticmethod
    def _check(clips: torch.Tensor) -> None:
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ValueError(f"video clips must be [B, 3, T, H, W], got {tuple(clips.shape)}")
