"""Rotation: four-way classification of the pooled features; labels outside 0..3 are refused."""

import pytest
import torch

from mmssl.objectives.rotation import Rotation, RotationConfig


def test_step(one_thread):
    method = Rotation(RotationConfig(backbone="resnet18"))
    images = torch.randn(4, 3, 32, 32)
    loss, metrics = method.training_step(method.model, {"image": images, "label": torch.tensor([0, 1, 2, 3])})
    with torch.no_grad():
        logits = method.model.classifier(method.model.backbone(images))
    assert logits.shape == (4, 4)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, torch.arange(4)), rtol=1e-4)
    with pytest.raises(ValueError, match="labels"):
        method.training_step(method.model, {"image": images, "label": torch.tensor([0, 1, 2, 4])})
