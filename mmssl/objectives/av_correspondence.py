"""Audio-visual correspondence: does this audio belong to this clip, at this moment?

Two forms on the `av_pairs` batches (easy negatives from other videos, hard ones from the same
video shifted in time, the AVTS curriculum in the pipeline's options):
- `binary` (L3-Net, Arandjelovic & Zisserman 2017): the two modality features, concatenated, go
  through a small MLP to two logits; cross-entropy against `match`.
- `contrastive` (AVTS, Korbar et al. 2018): both features are projected to an L2-normalised
  embedding; matching pairs are pulled together and mismatched ones pushed beyond a margin,
  L = y d^2 + (1 - y) max(0, margin - d)^2 with d the Euclidean distance; a pair is predicted
  to correspond when d < margin / 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmssl.models.audio_backbone import AUDIO_BACKBONES, build_audio_backbone
from mmssl.models.embedding import pooled_features, unwrap
from mmssl.models.heads import projection_head
from mmssl.models.video_backbone import VIDEO_BACKBONES, VideoBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.classification import pretext_classification_loss
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network

FORMS = ("binary", "contrastive")


class CorrespondenceHead(nn.Module):
    """L3 fusion: concat(video, audio) -> 128 -> ReLU -> 2 logits (0: mismatched, 1: corresponding)."""

    def __init__(self, video_dim: int, audio_dim: int, hidden_dim: int = 128):
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Linear(video_dim + audio_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, 2)
        )

    def forward(self, video_features: torch.Tensor, audio_features: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([video_features, audio_features], dim=1))


class ContrastiveHead(nn.Module):
    """AVTS: each modality projected to an L2-normalised embedding; output: the pair's distance [B]."""

    def __init__(self, video_dim: int, audio_dim: int, embed_dim: int = 128):
        super().__init__()
        self.video = projection_head(video_dim, embed_dim, "mlp")
        self.audio = projection_head(audio_dim, embed_dim, "mlp")

    def forward(self, video_features: torch.Tensor, audio_features: torch.Tensor) -> torch.Tensor:
        video = F.normalize(self.video(video_features).float(), dim=1)
        audio = F.normalize(self.audio(audio_features).float(), dim=1)
        return (video - audio).norm(dim=1)


def contrastive_pair_loss(distance: torch.Tensor, match: torch.Tensor, margin: float) -> torch.Tensor:
    """AVTS's contrastive loss, the mean of y d^2 + (1 - y) max(0, margin - d)^2."""
    y = match.to(distance.device, distance.dtype)
    return (y * distance.pow(2) + (1 - y) * (margin - distance).clamp_min(0).pow(2)).mean()


@dataclass
class AVCorrespondenceConfig:
    video_backbone: str = "r2plus1d_18"
    audio_backbone: str = "vgg"
    form: str = "binary"
    margin: float = 0.99  # contrastive form: AVTS's margin on the distance of unit embeddings
    embed_dim: int = 128  # contrastive form

    def __post_init__(self):
        if self.video_backbone not in VIDEO_BACKBONES or self.audio_backbone not in AUDIO_BACKBONES:
            raise ValueError(
                f"video_backbone {self.video_backbone!r} / audio_backbone {self.audio_backbone!r} not in "
                f"{sorted(VIDEO_BACKBONES)} / {AUDIO_BACKBONES}"
            )
        if self.form not in FORMS:
            raise ValueError(f"form {self.form!r} not in {FORMS}")
        if not 0 < self.margin <= 2 or self.embed_dim < 1:
            raise ValueError(f"need 0 < margin <= 2 (unit embeddings) and embed_dim >= 1, got {self.margin}, {self.embed_dim}")


class AVCorrespondenceNetwork(nn.Module):
    """Video and audio trunks and the form's head; forward gives logits [B, 2] or distances [B]."""

    def __init__(self, config: AVCorrespondenceConfig):
        super().__init__()
        self.video = VideoBackbone(config.video_backbone)
        self.audio = build_audio_backbone(config.audio_backbone)
        if config.form == "binary":
            self.head = CorrespondenceHead(self.video.feature_dim, self.audio.feature_dim)
        else:
            self.head = ContrastiveHead(self.video.feature_dim, self.audio.feature_dim, config.embed_dim)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.video(video), self.audio(audio))


class AVCorrespondence(NetworkStateOnly, nn.Module):
    """Batch (the `av_pairs` family): video [B, 3, T, H, W], audio [B, 1, mels, frames], match [B]."""

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
        require_keys(batch, ("video", "audio", "match"), "AVCorrespondence")
        output = model(batch["video"], batch["audio"])
        match = batch["match"].to(output.device)
        if self.config.form == "binary":
            loss, accuracy = pretext_classification_loss(output, match)
        else:
            loss = contrastive_pair_loss(output, match, self.config.margin)
            accuracy = (self.predict_from(output) == match).float().mean().item()
        return loss, {"loss": loss.item(), "accuracy": accuracy}

    def predict_from(self, output: torch.Tensor) -> torch.Tensor:
        """1 where the network's output says the audio is the clip's, else 0."""
        if self.config.form == "binary":
            return output.argmax(1)
        return (output < self.config.margin / 2).long()

    @torch.no_grad()
    def predict(self, model: nn.Module, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Correspondence predictions [B] in eval mode (BN running statistics)."""
        network = unwrap(model)
        was_training = network.training
        network.eval()
        try:
            return self.predict_from(network(video, audio))
        finally:
            network.train(was_training)

    def features(self, model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
        """Pooled video features, for kNN evaluation."""
        return pooled_features(unwrap(model).video, clips)

    def audio_features(self, model: nn.Module, log_mel: torch.Tensor) -> torch.Tensor:
        """Pooled audio features of log-mel windows [B, 1, mels, frames], for audio probes."""
        return pooled_features(unwrap(model).audio, log_mel)
