"""NPID (Wu et al., 2018): instance discrimination against a memory bank (PIRL with lambda = 0)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmssl.models.embedding import image_embedding_network, pooled_features, unwrap
from mmssl.objectives.batch import require_keys
from mmssl.objectives.memory_contrast import MemoryContrast
from mmssl.objectives.pirl import validate_memory_config
from mmssl.objectives.method_parts import seeded_network


@dataclass
class NPIDConfig:
    """Paper defaults: 128-d, tau 0.07, 4096 negatives, memory momentum 0.5, NCE form."""

    backbone: str = "resnet50"
    embed_dim: int = 128
    temperature: float = 0.07
    memory_momentum: float = 0.5
    num_negatives: int = 4096
    loss_form: str = "nce"  # or "softmax"
    head: str = "linear"  # or "mlp"
    bank_dtype: str = "float32"  # or "float16"

    def __post_init__(self):
        validate_memory_config(self)


class NPID(nn.Module):
    """NPID objective: owns the trainable `model` and this rank's shard of the memory bank."""

    def __init__(
        self, config: NPIDConfig, num_samples: int, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(
            seed, lambda: image_embedding_network(config.backbone, config.embed_dim, config.head), device
        )
        self.contrast = MemoryContrast(
            num_samples, config.embed_dim, temperature=config.temperature, memory_momentum=config.memory_momentum,
            num_negatives=config.num_negatives, loss_form=config.loss_form, bank_dtype=config.bank_dtype,
            rank=rank, world_size=world_size, device=device, seed=seed,
        )

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of one batch (image, row: the sample's memory-bank row); updates the memory bank after computing it."""
        require_keys(batch, ("image", "row"), "NPID")
        embedding = model(batch["image"])
        loss = self.contrast.losses(batch["row"], {"image": embedding})["image"]
        self.contrast.update(batch["row"], embedding)
        return loss, {"loss": loss.detach()}

    def features(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return pooled_features(unwrap(model).backbone, images)

    def checkpoint_state(self) -> dict:
        return {"memory": self.contrast.state()}

    def load_checkpoint_state(self, states: list[dict]) -> None:
        self.contrast.load_states([state["memory"] for state in states])
