"""Jigsaw: logits come from the tiles' features concatenated in the given order."""

import pytest
import torch

from mmssl.objectives.jigsaw import Jigsaw, JigsawConfig


def test_logits_are_classifier_of_concatenated_tile_features(one_thread):
    method = Jigsaw(JigsawConfig(backbone="resnet18", num_permutations=24))
    method.model.eval()
    tiles = torch.randn(2, 9, 3, 32, 32)
    with torch.no_grad():
        logits = method.model(tiles)
        per_tile = torch.stack([method.model.backbone(tiles[:, t]) for t in range(9)], dim=1)
        expected = method.model.classifier(per_tile.flatten(1))
    assert torch.allclose(logits, expected, atol=1e-5)
    method.model.train()
    loss, metrics = method.training_step(method.model, {"tiles": tiles, "label": torch.tensor([3, 23])})
    loss.backward()
    assert 0 <= metrics["accuracy"] <= 1 and method.model.classifier.weight.grad is not None


def test_wrong_tile_count():
    method = Jigsaw(JigsawConfig(backbone="resnet18", num_permutations=24))
    with pytest.raises(ValueError, match="tiles must be"):
        method.model(torch.randn(2, 4, 3, 32, 32))
    with pytest.raises(ValueError, match="permutations"):
        JigsawConfig(num_permutations=1)
