"""Audio-visual correspondence (Arandjelovic & Zisserman, 2017, L3-Net): does this audio belong to
this clip? The two modality features are fused by a small MLP into two logits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmssl.models.audio_backbone import AUDIO_BACKBONES, build_audio_backbone
from mmssl.models.embedding import pooled_features, unwrap
from mmssl.models.video_backbone import VIDEO_BACKBONES, VideoBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.classification import pretext_classification_loss
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network


class CorrespondenceHead(nn.Module):
    """L3 fusion: concat(video, audio) -> 128 -> ReLU -> 2 logits (0: mismatched, 1: corresponding)."""

    def __init__(self, video_dim: int, audio_dim: int, hidden_dim: int = 128):
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Linear(video_dim + audio_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, 2)
        )

    def forward(self, video_features: torch.Tensor, audio_features: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([video_features, audio_features], dim=1))


@dataclass
class AVCorrespondenceConfig:
    video_backbone: str = "r2plus1d_18"
    audio_backbone: str = "vgg"

    def __post_init__(self):
        if self.video_backbone not in VIDEO_BACKBONES or self.audio_backbone not in AUDIO_BACKBONES:
            raise ValueError(
                f"video_backbone {self.video_backbone!r} / audio_backbone {self.audio_backbone!r} not in "
                f"{sorted(VIDEO_BACKBONES)} / {AUDIO_BACKBONES}"
            )


class AVCorrespondenceNetwork(nn.Module):
    def __init__(self, config: AVCorrespondenceConfig):
        super().__init__()
        self.video = VideoBackbone(config.video_backbone)
        self.audio = build_audio_backbone(config.audio_backbone)
        self.head = CorrespondenceHead(self.video.feature_dim, self.audio.feature_dim)

    def forward(self, clip: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.video(clip), self.audio(audio))


class AVCorrespondence(NetworkStateOnly, nn.Module):
    """Batch: clip [B, 3, T, H, W], audio [B, 1, mels, frames], label [B] (1 if the audio is the clip's)."""

    def __init__(
        self, config: AVCorrespondenceConfig, num_samples: int = 0, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(seed, lambda: AVCorrespondenceNetwork(config), device)

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        require_keys(batch, ("clip", "audio", "label"), "AVCorrespondence")
        loss, accuracy = pretext_classification_loss(model(batch["clip"], batch["audio"]), batch["label"])
        return loss, {"loss": loss.item(), "accuracy": accuracy}

    def features(self, model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
        """Pooled video features, for kNN evaluation."""
        return pooled_features(unwrap(model).video, clips)

