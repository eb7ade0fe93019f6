"""Frozen features of a trained network, per layer, for linear probes, kNN and ClusterFit.

Images: the output of every ResNet stage (conv1, res2 .. res5), average-pooled to a fixed grid so
each layer gives about 9k dimensions, as VISSL's linear-evaluation protocol does (a 1x1 pool of
conv1 would keep only its 64 channel means and say little about that layer). Videos: the video
network's pooled clip feature. Audio: the audio network's pooled log-mel feature. Inputs come from
the evaluation views of the same pipelines as training (centre crop, middle clip, no augmentation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from mmssl.models.embedding import unwrap
from mmssl.models.image_backbone import STAGES, ImageBackbone

TARGET_DIMS = 9216  # VISSL's linear-probe feature size per layer (e.g. 64 x 12 x 12 for conv1)
POOLED = "pooled"  # the layer name of a video or audio network's pooled feature


def pool_side(channels: int, spatial_px: int, target_dims: int = TARGET_DIMS) -> int:
    """Side of the square average-pool grid that brings `channels` maps to about `target_dims` values."""
    return max(1, min(spatial_px, round(math.sqrt(target_dims / channels))))


def pool_to_about(feature_map: torch.Tensor, target_dims: int = TARGET_DIMS) -> torch.Tensor:
    """[B, C, H, W] -> [B, C * s * s], adaptive average pooling to the grid `pool_side` picks."""
    side = pool_side(feature_map.shape[1], min(feature_map.shape[2:]), target_dims)
    return nn.functional.adaptive_avg_pool2d(feature_map, side).flatten(1)


def image_backbone_of(model: nn.Module) -> ImageBackbone:
    """The trunk whose stages are probed: the first ImageBackbone inside the (unwrapped) model."""
    for module in unwrap(model).modules():
        if isinstance(module, ImageBackbone):
            return module
    raise ValueError(f"{type(unwrap(model)).__name__} has no image ResNet to probe per layer; "
                     "probe videos or audio with --modality video|audio")


@dataclass(frozen=True)
class FeatureSource:
    """How to get features: which pipeline family and options, which batch key is the input, and the
    function from that input to {layer: [B, D]} (eval mode, no gradient)."""

    pipeline: str
    options: dict
    input_key: str
    layers: tuple[str, ...]
    features: Callable[[torch.Tensor], dict[str, torch.Tensor]]


def image_layers(method, image_size: int, layers: tuple[str, ...] = STAGES) -> FeatureSource:
    """Every requested ResNet stage of the method's image trunk, pooled to about 9k dims."""
    unknown = set(layers) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; image layers are {', '.join(STAGES)}")
    backbone = image_backbone_of(method.model)

    @torch.no_grad()
    def features(images: torch.Tensor) -> dict[str, torch.Tensor]:
        backbone.eval()
        stages = backbone.stage_features(images)
        return {name: pool_to_about(stages[name]).float() for name in layers}

    return FeatureSource("center_crop", {"image_size": image_size}, "image", tuple(layers), features)


def image_pooled(method, image_size: int) -> FeatureSource:
    """The method's globally pooled image features (what kNN and ClusterFit use)."""
    def features(images: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {POOLED: method.features(method.model, images).float()}

    return FeatureSource("center_crop", {"image_size": image_size}, "image", (POOLED,), features)


def video_pooled(method, clip_options: dict) -> FeatureSource:
    """The method's clip features (its video network, or its image trunk averaged over frames)."""
    def features(clips: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {POOLED: method.features(method.model, clips).float()}

    return FeatureSource("clips", clip_options, "video", (POOLED,), features)


def audio_pooled(method, audio_options: dict) -> FeatureSource:
    """The method's audio network's pooled log-mel features (audio-visual methods only)."""
    if not hasattr(method, "audio_features"):
        raise ValueError(f"{type(method).__name__} has no audio network; audio probes need an audio-visual "
                         "run (av_correspondence or avid)")

    def features(log_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {POOLED: method.audio_features(method.model, log_mel).float()}

    return FeatureSource("audio", audio_options, "audio", (POOLED,), features)
