"""MoCo (He et al., 2020): a query encoder trained against keys from a momentum encoder, with a
queue of past keys as negatives. Shuffling BN across ranks (as in the paper) keeps a rank's batch
statistics from leaking which key matches which query."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmssl.memory.collectives import all_gather_cat, world_rank_and_size
from mmssl.models.embedding import image_embedding_network, pooled_features, unwrap
from mmssl.models.heads import HEAD_KINDS
from mmssl.models.image_backbone import IMAGE_BACKBONES
from mmssl.objectives.batch import require_keys
from mmssl.objectives.nce import info_nce_loss


@dataclass
class MoCoConfig:
    """MoCo v1 defaults; v2 is head="mlp", temperature=0.2 (with its stronger augmentation)."""

    backbone: str = "resnet50"
    embed_dim: int = 128
    temperature: float = 0.07
    encoder_momentum: float = 0.999
    queue_size: int = 65536
    head: str = "linear"

    def __post_init__(self):
        if self.backbone not in IMAGE_BACKBONES or self.head not in HEAD_KINDS:
            raise ValueError(
                f"backbone {self.backbone!r} / head {self.head!r} not in {sorted(IMAGE_BACKBONES)} / {HEAD_KINDS}"
            )
        if self.temperature <= 0 or self.embed_dim < 1 or self.queue_size < 1:
            raise ValueError(f"temperature, embed_dim and queue_size must be positive: {self}")
        if not 0.0 <= self.encoder_momentum < 1.0:
            raise ValueError(f"encoder_momentum must be in [0, 1), got {self.encoder_momentum}")


def momentum_update_(key_encoder: nn.Module, query_encoder: nn.Module, momentum: float) -> None:
    """key <- momentum * key + (1 - momentum) * query, parameter by parameter."""
    with torch.no_grad():
        for key_param, query_param in zip(key_encoder.parameters(), query_encoder.parameters()):
            key_param.mul_(momentum).add_(query_param.detach(), alpha=1.0 - momentum)


class MoCo(nn.Module):
    """MoCo objective: owns the momentum (key) encoder and the queue; `model` is the query encoder."""

    def __init__(
        self, config: MoCoConfig, num_samples: int = 0, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config, self.seed = config, seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = image_embedding_network(config.backbone, config.embed_dim, config.head).to(device)
            queue = F.normalize(torch.randn(config.queue_size, config.embed_dim), dim=1)
        self.key_encoder = copy.deepcopy(self.model).requires_grad_(False)
        self.register_buffer("queue", queue.to(device))
        self.queue_position = 0
        self.steps = 0

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        require_keys(batch, ("view_0", "view_1"), "MoCo")
        queries = model(batch["view_0"])
        momentum_update_(self.key_encoder, unwrap(model), self.config.encoder_momentum)
        keys = self._keys(batch["view_1"])
        loss = info_nce_loss(queries.float(), keys, self.queue.clone(), self.config.temperature)
        self._enqueue(all_gather_cat(keys))
        self.steps += 1
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def _keys(self, images: torch.Tensor) -> torch.Tensor:
        """Normalized key embeddings; across ranks, computed on a shuffled global batch (shuffle BN)."""
        rank, world_size = world_rank_and_size()
        if world_size == 1:
            return F.normalize(self.key_encoder(images).float(), dim=1)
        local = images.shape[0]
        all_images = all_gather_cat(images)  # every rank must hold the same batch size
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.steps)
        order = torch.randperm(all_images.shape[0], generator=generator).to(images.device)  # same on every rank
        mine = slice(rank * local, (rank + 1) * local)
        shuffled_keys = all_gather_cat(self.key_encoder(all_images[order][mine]).float())
        keys = torch.empty_like(shuffled_keys)
        keys[order] = shuffled_keys
        return F.normalize(keys[mine], dim=1)

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor) -> None:
        """Overwrite the oldest queue rows with `keys` (wrapping around)."""
        size = self.queue.shape[0]
        keys = keys[-size:]
        rows = (self.queue_position + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[rows] = keys.to(self.queue.dtype)
        self.queue_position = int((self.queue_position + keys.shape[0]) % size)

    def features(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return pooled_features(unwrap(model).backbone, images)

    def checkpoint_state(self) -> dict:
        """Replicated on every rank: the key encoder, the queue and its write position."""
        return {
            "key_encoder": {k: v.cpu() for k, v in self.key_encoder.state_dict().items()},
            "queue": self.queue.cpu(),
            "queue_position": self.queue_position,
            "steps": self.steps,
        }

    def load_checkpoint_state(self, states: list[dict]) -> None:
        state = states[0]
        if tuple(state["queue"].shape) != tuple(self.queue.shape):
            saved, wanted = tuple(state["queue"].shape), tuple(self.queue.shape)
            raise ValueError(f"checkpointed queue is {saved}, the config wants {wanted}: queue_size/embed_dim changed")
        self.key_encoder.load_state_dict(state["key_encoder"])
        self.queue.copy_(state["queue"])
        self.queue_position, self.steps = state["queue_position"], state["steps"]
