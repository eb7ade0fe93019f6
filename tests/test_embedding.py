"""EmbeddingNetwork is head(backbone(x)); unwrap finds the network inside wrappers."""

import torch

from mmssl.models.embedding import EmbeddingNetwork, image_embedding_network, pooled_features, unwrap


class _Wrapper(torch.nn.Module):  # the attribute DistributedDataParallel uses
    def __init__(self, module):
        super().__init__()
        self.module = module


def test_embedding_and_unwrap(one_thread):
    network = image_embedding_network("resnet18", 32, "mlp").eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(network(images), network.head(network.backbone(images)))
    assert network(images).shape == (2, 32)
    assert unwrap(_Wrapper(network)) is network and unwrap(network) is network
    assert isinstance(network, EmbeddingNetwork)


def test_pooled_features_in_eval_mode_and_mode_restored(one_thread):
    network = image_embedding_network("resnet18", 8, "linear")  # in train mode
    images = torch.randn(3, 3, 32, 32)
    running_mean = network.backbone.conv1[1].running_mean.clone()
    features = pooled_features(network.backbone, images)
    assert network.training and torch.equal(network.backbone.conv1[1].running_mean, running_mean)
    network.eval()
    with torch.no_grad():
        assert torch.allclose(features, network.backbone(images))
        # eval mode: a sample's features do not depend on the rest of the batch
        assert torch.allclose(pooled_features(network.backbone, images[:1]), features[:1], atol=1e-5)
