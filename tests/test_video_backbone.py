"""Video backbones: clips [B, 3, T, H, W] -> 512-d features; wrong layouts are refused."""

import pytest
import torch

from mmssl.models.video_backbone import VideoBackbone


@pytest.mark.parametrize("name", ["r2plus1d_18", "r3d_18"])
def test_pooled_features(name, one_thread):
    backbone = VideoBackbone(name).eval()
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, 4, 32, 32))
    assert backbone.feature_dim == 512 and features.shape == (2, 512)
    assert not torch.allclose(features[0], features[1])


def test_bad_layout():
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        VideoBackbone("r3d_18")(torch.randn(2, 4, 3, 32, 32))
    with pytest.raises(ValueError, match="r2plus1d_18"):
        VideoBackbone("slowfast")
