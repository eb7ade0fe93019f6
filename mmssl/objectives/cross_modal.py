"""Cross-modal instance discrimination (video <-> audio) with one memory bank per modality.

Video embedding v_i is contrasted against the audio bank (positive: audio row i) and the audio
embedding a_i against the video bank; then each bank takes the EMA of its own modality's embedding.
L = L_NCE(audio_bank_i, v_i) + L_NCE(video_bank_i, a_i).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmssl.models.audio_backbone import AUDIO_BACKBONES, build_audio_backbone
from mmssl.models.embedding import EmbeddingNetwork, pooled_features, unwrap
from mmssl.models.heads import HEAD_KINDS
from mmssl.models.video_backbone import VIDEO_BACKBONES, VideoBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.memory_contrast import LOSS_FORMS, MemoryContrast
from mmssl.objectives.method_parts import seeded_network


@dataclass
class CrossModalConfig:
    video_backbone: str = "r2plus1d_18"
    audio_backbone: str = "vgg"
    embed_dim: int = 128
    temperature: float = 0.07
    memory_momentum: float = 0.5
    num_negatives: int = 8192
    loss_form: str = "nce"
    head: str = "linear"
    bank_dtype: str = "float32"

    def __post_init__(self):
        if self.video_backbone not in VIDEO_BACKBONES or self.audio_backbone not in AUDIO_BACKBONES:
            raise ValueError(f"unknown backbones {self.video_backbone!r} / {self.audio_backbone!r}")
        if self.loss_form not in LOSS_FORMS or self.head not in HEAD_KINDS:
            raise ValueError(f"loss_form {self.loss_form!r} / head {self.head!r} not in {LOSS_FORMS} / {HEAD_KINDS}")
        if self.temperature <= 0 or self.num_negatives < 1 or not 0 <= self.memory_momentum < 1:
            raise ValueError(f"invalid temperature / num_negatives / memory_momentum in {self}")


class CrossModalNetwork(nn.Module):
    def __init__(self, config: CrossModalConfig):
        super().__init__()
        self.video = EmbeddingNetwork(VideoBackbone(config.video_backbone), config.embed_dim, config.head)
        self.audio = EmbeddingNetwork(build_audio_backbone(config.audio_backbone), config.embed_dim, config.head)

    def forward(self, clip: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.video(clip), self.audio(audio)


class CrossModal(nn.Module):
    """Batch (`av_pairs` with no negatives): video [B, 3, T, H, W], audio [B, 1, mels, frames], row [B] (bank row); owns both modality banks."""

    def __init__(
        self, config: CrossModalConfig, num_samples: int, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(seed, lambda: CrossModalNetwork(config), device)
        settings = dict(
            temperature=config.temperature, memory_momentum=config.memory_momentum, num_negatives=config.num_negatives,
            loss_form=config.loss_form, bank_dtype=config.bank_dtype, rank=rank, world_size=world_size, device=device,
        )
        self.video_memory = MemoryContrast(num_samples, config.embed_dim, seed=seed, **settings)
        self.audio_memory = MemoryContrast(num_samples, config.embed_dim, seed=seed + 1, **settings)

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        require_keys(batch, ("video", "audio", "row"), "CrossModal")
        video_embedding, audio_embedding = model(batch["video"], batch["audio"])
        video_to_audio = self.audio_memory.losses(batch["row"], {"video_to_audio": video_embedding})["video_to_audio"]
        audio_to_video = self.video_memory.losses(batch["row"], {"audio_to_video": audio_embedding})["audio_to_video"]
        loss = video_to_audio + audio_to_video
        self.video_memory.update(batch["row"], video_embedding)
        self.audio_memory.update(batch["row"], audio_embedding)
        metrics = {"loss_video_to_audio": video_to_audio.detach(), "loss_audio_to_video": audio_to_video.detach()}
        return loss, {"loss": loss.detach(), **metrics}

    def features(self, model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
        return pooled_features(unwrap(model).video.backbone, clips)

    def audio_features(self, model: nn.Module, log_mel: torch.Tensor) -> torch.Tensor:
        """Pooled audio-network features of log-mel windows [B, 1, mels, frames], for audio probes."""
        return pooled_features(unwrap(model).audio.backbone, log_mel)

    def checkpoint_state(self) -> dict:
        return {"video_memory": self.video_memory.state(), "audio_memory": self.audio_memory.state()}

    def load_checkpoint_state(self, states: list[dict]) -> None:
        self.video_memory.load_states([state["video_memory"] for state in states])
        self.audio_memory.load_states([state["audio_memory"] for state in states])
