"""Image backbones: per-stage shapes, pooled feature = pooled res5, channels-last gives the same output."""

import pytest
import torch

from mmssl.models.image_backbone import ImageBackbone


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return ImageBackbone("resnet18").eval()


def test_stage_shapes_and_pooling(resnet18, one_thread):
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        stages = resnet18.stage_features(images)
        pooled = resnet18(images)
    shapes = {name: tuple(feature.shape[1:]) for name, feature in stages.items()}
    assert shapes == {"conv1": (64, 32, 32), "res2": (64, 16, 16), "res3": (128, 8, 8),
                      "res4": (256, 4, 4), "res5": (512, 2, 2)}
    assert resnet18.feature_dim == 512
    assert torch.allclose(pooled, stages["res5"].mean(dim=(2, 3)), atol=1e-6)


def test_channels_last(resnet18, one_thread):
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = resnet18(images)
        channels_last = resnet18.to(memory_format=torch.channels_last)(images.to(memory_format=torch.channels_last))
    resnet18.to(memory_format=torch.contiguous_format)
    assert torch.allclose(channels_last, expected, atol=1e-4)


def test_resnet50_dims_and_bad_name():
    assert ImageBackbone("resnet50").feature_dim == 2048
    with pytest.raises(ValueError, match="resnet18"):
        ImageBackbone("vit_b_16")


def test_narrow_resnet18_keeps_resolution_in_its_stem_and_has_quarter_width():
    import torch

    from mmssl.models.image_backbone import ImageBackbone

    backbone = ImageBackbone("resnet18_narrow")
    stages = backbone.stage_features(torch.randn(2, 3, 32, 32))
    assert [tuple(f.shape[1:]) for f in stages.values()] == [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (128, 4, 4)]
    assert backbone.feature_dim == 128 and backbone(torch.randn(3, 3, 8, 8)).shape == (3, 128)
