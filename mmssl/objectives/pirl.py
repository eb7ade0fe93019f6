"""PIRL (Misra & van der Maaten, 2020): representations invariant to a Jigsaw transform of the image.

L = lambda * L_NCE(m_I, g(v_It)) + (1 - lambda) * L_NCE(m_I, f(v_I)), where m_I is image I's memory
row, f embeds the image and g the (shuffled) tiles; negatives come from the memory bank; after the
loss, m_I <- normalize(momentum * m_I + (1 - momentum) * f(v_I)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmssl.models.embedding import pooled_features, unwrap
from mmssl.models.heads import HEAD_KINDS, TileSetHead, projection_head
from mmssl.models.image_backbone import IMAGE_BACKBONES, ImageBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.memory_contrast import LOSS_FORMS, NCE_NORMALIZERS, MemoryContrast
from mmssl.objectives.method_parts import seeded_network


@dataclass
class PIRLConfig:
    """Paper defaults (ResNet-50, 128-d, tau 0.07, lambda 0.5, 32000 negatives, NCE form).

    `nce_normalizer` (nce form only): "vissl_shared", the default, estimates Z once from the tile
    term and uses it for the image term too, as the authors' released code (VISSL, whose NCE loss
    the paper's first author wrote) does; "per_term" gives each term its own Z, which fits each
    term's own scores (see memory_contrast.py and docs/paper_fidelity.md).
    """

    backbone: str = "resnet50"
    embed_dim: int = 128
    temperature: float = 0.07
    loss_weight: float = 0.5  # lambda: weight of the tile (Jigsaw) term
    memory_momentum: float = 0.5
    num_negatives: int = 32000
    loss_form: str = "nce"  # or "softmax"
    nce_normalizer: str = "vissl_shared"  # or "per_term"
    head: str = "linear"  # or "mlp"
    bank_dtype: str = "float32"  # or "float16"
    num_tiles: int = 9

    def __post_init__(self):
        validate_memory_config(self)
        if self.nce_normalizer not in NCE_NORMALIZERS:
            raise ValueError(f"PIRL nce_normalizer {self.nce_normalizer!r} is not one of {NCE_NORMALIZERS}")
        if not 0.0 <= self.loss_weight <= 1.0:
            raise ValueError(f"PIRL loss_weight (lambda) must be in [0, 1], got {self.loss_weight}")
        if self.num_tiles < 1:
            raise ValueError(f"num_tiles must be positive, got {self.num_tiles}")


def validate_memory_config(config) -> None:
    """Checks shared by the memory-bank methods (PIRL, NPID)."""
    if config.backbone not in IMAGE_BACKBONES:
        raise ValueError(f"backbone {config.backbone!r} is not one of {sorted(IMAGE_BACKBONES)}")
    if config.head not in HEAD_KINDS:
        raise ValueError(f"head {config.head!r} is not one of {HEAD_KINDS}")
    if config.loss_form not in LOSS_FORMS:
        raise ValueError(f"loss_form {config.loss_form!r} is not one of {LOSS_FORMS}")
    if config.bank_dtype not in ("float32", "float16"):
        raise ValueError(f"bank_dtype {config.bank_dtype!r} must be 'float32' or 'float16'")
    if config.temperature <= 0 or config.embed_dim < 1 or config.num_negatives < 1:
        raise ValueError(
            f"temperature ({config.temperature}), embed_dim ({config.embed_dim}) and num_negatives "
            f"({config.num_negatives}) must be positive"
        )
    if not 0.0 <= config.memory_momentum < 1.0:
        raise ValueError(f"memory_momentum must be in [0, 1), got {config.memory_momentum}")


class PIRLNetwork(nn.Module):
    """Shared backbone with f (image head) and g (tile-set head); what DDP wraps."""

    def __init__(self, config: PIRLConfig):
        super().__init__()
        self.backbone = ImageBackbone(config.backbone)
        self.image_head = projection_head(self.backbone.feature_dim, config.embed_dim, config.head)
        self.tile_head = TileSetHead(self.backbone.feature_dim, config.embed_dim, config.num_tiles, config.head)

    def forward(self, image: torch.Tensor, tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f(v_I) [B, d], g(v_It) [B, d]) for images [B, 3, H, W] and tiles [B, T, 3, h, w]."""
        batch, num_tiles = tiles.shape[:2]
        tile_features = self.backbone(tiles.flatten(0, 1)).view(batch, num_tiles, -1)
        return self.image_head(self.backbone(image)), self.tile_head(tile_features)


class PIRL(nn.Module):
    """PIRL objective: owns the trainable `model` and this rank's shard of the memory bank."""

    def __init__(
        self, config: PIRLConfig, num_samples: int, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(seed, lambda: PIRLNetwork(config), device)  # same weights on every rank
        self.contrast = MemoryContrast(
            num_samples, config.embed_dim, temperature=config.temperature, memory_momentum=config.memory_momentum,
            num_negatives=config.num_negatives, loss_form=config.loss_form, nce_normalizer=config.nce_normalizer,
            bank_dtype=config.bank_dtype, rank=rank, world_size=world_size, device=device, seed=seed,
        )

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of one batch (image, tiles, row: the sample's memory-bank row); updates the memory bank after computing it."""
        require_keys(batch, ("image", "tiles", "row"), "PIRL")
        image_embedding, tile_embedding = model(batch["image"], batch["tiles"])
        # tiles first: vissl_shared's Z comes from the first term, as VISSL's head order [patches, images]
        terms = self.contrast.losses(batch["row"], {"tiles": tile_embedding, "image": image_embedding})
        weight = self.config.loss_weight
        loss = weight * terms["tiles"] + (1.0 - weight) * terms["image"]
        self.contrast.update(batch["row"], image_embedding)
        metrics = {"loss_tiles": terms["tiles"].detach(), "loss_image": terms["image"].detach()}  # read at log steps
        return loss, {"loss": loss.detach(), **metrics}

    def features(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features, for kNN evaluation."""
        return pooled_features(unwrap(model).backbone, images)

    def checkpoint_state(self) -> dict:
        return {"memory": self.contrast.state()}

    def load_checkpoint_state(self, states: list[dict]) -> None:
        self.contrast.load_states([state["memory"] for state in states])
