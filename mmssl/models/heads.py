"""Projection heads that map backbone features to the embedding space of a contrastive loss."""

from __future__ import annotations

import torch
from torch import nn

HEAD_KINDS = ("linear", "mlp", "mlp_bn")


def projection_head(in_dim: int, out_dim: int, kind: str = "linear") -> nn.Module:
    """`linear`: in -> out. `mlp`: in -> in -> out with a ReLU between (SimCLR / MoCo v2 style).
    `mlp_bn`: the same with batch norm before the ReLU (SimCLR's own head): features that all share
    one large component (pooled ReLU outputs) are centred over the batch before they are compared."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim))
    if kind == "mlp_bn":
        return nn.Sequential(nn.Linear(in_dim, in_dim, bias=False), nn.BatchNorm1d(in_dim), nn.ReLU(inplace=True),
                             nn.Linear(in_dim, out_dim))
    raise ValueError(f"unknown head kind {kind!r}; choose one of {HEAD_KINDS}")


class TileSetHead(nn.Module):
    """PIRL's g: one shared projection per tile, the tile embeddings concatenated in the order given
    (the shuffled order), then projected to the embedding: 9 x 128 = 1152 -> 128."""

    def __init__(self, feature_dim: int, embed_dim: int = 128, num_tiles: int = 9, kind: str = "linear"):
        super().__init__()
        self.num_tiles = num_tiles
        self.per_tile = projection_head(feature_dim, embed_dim, kind)
        self.combine = nn.Linear(num_tiles * embed_dim, embed_dim)

    def forward(self, tile_features: torch.Tensor) -> torch.Tensor:
        """tile_features [B, num_tiles, feature_dim] -> [B, embed_dim]."""
        if tile_features.shape[1] != self.num_tiles:
            raise ValueError(f"expected {self.num_tiles} tiles per image, got {tile_features.shape[1]}")
        return self.combine(self.per_tile(tile_features).flatten(1))
