"""Heads: PIRL's tile-set head is per-tile projection, concatenation in order, then 9*d -> d."""

import pytest
import torch

from mmssl.models.heads import TileSetHead, projection_head


def test_tile_set_head_formula():
    head = TileSetHead(feature_dim=16, embed_dim=4, num_tiles=3)
    tiles = torch.randn(2, 3, 16)
    per_tile = [tiles[:, t] @ head.per_tile.weight.T + head.per_tile.bias for t in range(3)]
    expected = torch.cat(per_tile, dim=1) @ head.combine.weight.T + head.combine.bias
    assert head.combine.in_features == 12
    assert torch.allclose(head(tiles), expected, atol=1e-6)
    with pytest.raises(ValueError, match="3 tiles"):
        head(torch.randn(2, 4, 16))


def test_projection_kinds():
    assert isinstance(projection_head(8, 4, "linear"), torch.nn.Linear)
    mlp = projection_head(8, 4, "mlp")
    assert [layer.out_features for layer in mlp if isinstance(layer, torch.nn.Linear)] == [8, 4]
    with pytest.raises(ValueError, match="head kind"):
        projection_head(8, 4, "transformer")


def test_batch_normed_mlp_separates_features_that_share_one_large_component():
    torch.manual_seed(0)
    shared = 5.0 * torch.rand(1, 64)  # what pooled ReLU features of every sample have in common
    features = shared + 0.2 * torch.randn(32, 64)

    def mean_cosine(head):
        embedding = torch.nn.functional.normalize(head(features), dim=1)
        return ((embedding @ embedding.T).sum() - 32) / (32 * 31)

    torch.manual_seed(1)
    plain = projection_head(64, 16, "mlp")
    torch.manual_seed(1)
    normed = projection_head(64, 16, "mlp_bn")
    assert [type(layer).__name__ for layer in normed] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    with torch.no_grad():
        plain_cosine, normed_cosine = mean_cosine(plain).item(), mean_cosine(normed).item()
    print(f"mean cosine between samples: mlp {plain_cosine:.3f}, mlp_bn {normed_cosine:.3f}")
    assert plain_cosine > 0.95 and normed_cosine < 0.6
