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


def test_narrow_r3d_is_r3d_18_at_quarter_width(one_thread):
    narrow, full = VideoBackbone("r3d_18_narrow"), VideoBackbone("r3d_18")
    assert narrow.feature_dim == 128
    assert [m.out_channels for m in narrow.modules() if isinstance(m, torch.nn.Conv3d) and m.kernel_size != (1, 1, 1)] == [
        m.out_channels // 4 for m in full.modules() if isinstance(m, torch.nn.Conv3d) and m.kernel_size != (1, 1, 1)]
    with torch.no_grad():
        assert narrow.eval()(torch.randn(2, 3, 4, 32, 32)).shape == (2, 128)


def test_narrow_r3d_keeping_time_has_a_step_per_frame(one_thread):
    backbone = VideoBackbone("r3d_18_narrow_time").eval()
    clips = torch.randn(2, 3, 6, 64, 64)
    with torch.no_grad():
        timed, pooled = backbone.timed(clips), backbone(clips)
        maps = backbone.network.layer4(backbone.network.layer3(backbone.network.layer2(
            backbone.network.layer1(backbone.network.stem(clips)))))
    assert backbone.feature_dim == 128 and timed.shape == (2, 128, 6) and maps.shape == (2, 128, 6, 2, 2)
    assert torch.allclose(timed.mean(2), pooled, atol=1e-6)  # forward pools what timed gives
    assert not torch.allclose(timed[..., 0], timed[..., 5])
    # the other narrow R3D strides time: 4 frames become one step
    with torch.no_grad():
        assert VideoBackbone("r3d_18_narrow").eval().timed(torch.randn(2, 3, 4, 64, 64)).shape == (2, 128, 1)
