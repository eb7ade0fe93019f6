"""SimCLR (Chen et al., 2020): NT-Xent between two views, negatives from the whole global batch.

The loss is the paper's: the mean over all 2n anchors, both directions. google-research/simclr
returns the sum of the two directions' means, twice this (docs/paper_fidelity.md on porting an lr).

Keys are all-gathered with `all_gather_with_grad`: each rank's loss is over its own anchors, and
the gradient every rank's loss sends to this rank's keys comes back here (summed), so after DDP's
average the gradient is that of the single-process loss on the joined batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmssl.memory.collectives import all_gather_with_grad, world_rank_and_size
from mmssl.models.embedding import image_embedding_network, pooled_features, unwrap
from mmssl.models.heads import HEAD_KINDS
from mmssl.models.image_backbone import IMAGE_BACKBONES
from mmssl.objectives.batch import require_keys
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network


def nt_xent_loss(
    view_0: torch.Tensor, view_1: torch.Tensor, all_view_0: torch.Tensor, all_view_1: torch.Tensor,
    offset: int, temperature: float,
) -> torch.Tensor:
    """Mean NT-Xent over the local anchors (both views, [b, d] each) against all 2n global keys.

    `all_view_k` [n, d] hold every rank's view k in rank order, this rank's rows at [offset, offset+b).
    An anchor's positive is its other view; every other key except itself is a negative.
    """
    local, total = view_0.shape[0], all_view_0.shape[0]
    dtype = torch.promote_types(view_0.dtype, torch.float32)
    with torch.autocast(view_0.device.type, enabled=False):  # float32 math under the trainer's bf16 autocast
        queries = F.normalize(torch.cat([view_0, view_1]).to(dtype), dim=1)
        keys = F.normalize(torch.cat([all_view_0, all_view_1]).to(dtype), dim=1)
        logits = queries @ keys.T / temperature
    own = torch.arange(local, device=logits.device) + offset
    self_index = torch.cat([own, own + total])
    positive_index = torch.cat([own + total, own])
    logits = logits.masked_fill(F.one_hot(self_index, 2 * total).bool(), float("-inf"))
    return F.cross_entropy(logits, positive_index)


@dataclass
class SimCLRConfig:
    backbone: str = "resnet50"
    embed_dim: int = 128
    temperature: float = 0.1  # the paper's choice for large batches
    head: str = "mlp"

    def __post_init__(self):
        if self.backbone not in IMAGE_BACKBONES or self.head not in HEAD_KINDS:
            raise ValueError(
                f"backbone {self.backbone!r} / head {self.head!r} not in {sorted(IMAGE_BACKBONES)} / {HEAD_KINDS}"
            )
        if self.temperature <= 0 or self.embed_dim < 1:
            raise ValueError(f"temperature ({self.temperature}) and embed_dim ({self.embed_dim}) must be positive")


class SimCLR(NetworkStateOnly, nn.Module):
    """SimCLR objective (no state besides the network)."""

    def __init__(
        self, config: SimCLRConfig, num_samples: int = 0, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(
            seed, lambda: image_embedding_network(config.backbone, config.embed_dim, config.head), device
        )

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        require_keys(batch, ("view_0", "view_1"), "SimCLR")
        local = batch["view_0"].shape[0]
        embeddings = model(torch.cat([batch["view_0"], batch["view_1"]]))  # one pass: BN sees both views
        view_0, view_1 = embeddings[:local], embeddings[local:]
        rank, _ = world_rank_and_size()
        loss = nt_xent_loss(
            view_0, view_1, all_gather_with_grad(view_0), all_gather_with_grad(view_1),
            rank * local, self.config.temperature,
        )
        return loss, {"loss": loss.detach()}

    def features(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return pooled_features(unwrap(model).backbone, images)

