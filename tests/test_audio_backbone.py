"""Audio backbones take one-channel log-mel [B, 1, mels, frames] and give pooled features."""

import pytest
import torch

from mmssl.models.audio_backbone import build_audio_backbone


@pytest.mark.parametrize("name,dim", [("resnet18", 512), ("vgg", 512)])
def test_log_mel_to_features(name, dim, one_thread):
    backbone = build_audio_backbone(name).eval()
    with torch.no_grad():
        features = backbone(torch.randn(2, 1, 64, 48))
    assert backbone.feature_dim == dim and features.shape == (2, dim)


def test_bad_input():
    with pytest.raises(ValueError, match=r"\[B, 1, mels, frames\]"):
        build_audio_backbone("resnet18")(torch.randn(2, 3, 64, 48))
    with pytest.raises(ValueError, match="vgg"):
        build_audio_backbone("transformer")


def test_vgg_keeping_time_has_a_step_per_four_frames(one_thread):
    backbone = build_audio_backbone("vgg_narrow_time").eval()
    log_mel = torch.randn(2, 1, 40, 51)
    with torch.no_grad():
        timed, pooled = backbone.timed(log_mel), backbone(log_mel)
        pooled_in_time = build_audio_backbone("vgg_narrow").eval().timed(log_mel)
    assert backbone.feature_dim == 128 and timed.shape == (2, 128, 12) and pooled_in_time.shape == (2, 128, 3)
    assert torch.equal(timed.amax(2), pooled)
