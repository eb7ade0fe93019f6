"""Temporal: the symmetric clip_a <-> clip_b loss over the batch's other videos."""

import pytest
import torch

from mmssl.objectives.instance_contrast import instance_contrast_loss
from mmssl.objectives.temporal import Temporal, TemporalConfig


def test_step_is_symmetric_instance_contrast(one_thread):
    method = Temporal(TemporalConfig(backbone="r3d_18", head="linear"))
    method.model.eval()
    batch = {"clip_a": torch.randn(3, 3, 4, 32, 32), "clip_b": torch.randn(3, 3, 4, 32, 32), "index": torch.tensor([4, 9, 4])}
    loss, _ = method.training_step(method.model, batch)
    with torch.no_grad():
        a, b = method.model(batch["clip_a"]), method.model(batch["clip_b"])
    videos = batch["index"]
    expected = 0.5 * (instance_contrast_loss(a, b, 0, 0.1, videos, videos) + instance_contrast_loss(b, a, 0, 0.1, videos, videos))
    assert torch.allclose(loss, expected, rtol=1e-4)
    with pytest.raises(KeyError, match="clip_b"):
        method.training_step(method.model, {"clip_a": batch["clip_a"], "index": videos})
