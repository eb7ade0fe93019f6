"""Precise BN: the refreshed running statistics are those of the given batches under the final weights."""

import pytest
import torch
from torch import nn

from mmssl.train.config import TrainConfig
from mmssl.train.precise_bn import refresh_bn_statistics


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.1), nn.ReLU())


def test_statistics_are_the_average_over_the_batches():
    net = _net().eval()
    generator = torch.Generator().manual_seed(1)
    batches = [{"x": torch.randn(6, 3, 8, 8, generator=generator) * (i + 1) + i} for i in range(3)]
    layers = refresh_bn_statistics(net, iter(batches), 3, lambda model, batch: model(batch["x"]))
    with torch.no_grad():
        conv_out = [net[0](b["x"]).double().transpose(0, 1).reshape(4, -1) for b in batches]
    expected_mean = torch.stack([out.mean(1) for out in conv_out]).mean(0)
    expected_var = torch.stack([out.var(1, unbiased=True) for out in conv_out]).mean(0)
    bn = net[1]
    assert layers == 1
    assert torch.allclose(bn.running_mean.double(), expected_mean, rtol=1e-5, atol=1e-5)
    assert torch.allclose(bn.running_var.double(), expected_var, rtol=1e-5, atol=1e-5)
    assert bn.momentum == 0.1 and not net.training  # momentum and eval mode restored
    assert bn.num_batches_tracked.item() == 3


def test_only_the_asked_number_of_batches_is_drawn():
    net = _net()
    batches = iter([{"x": torch.randn(2, 3, 8, 8)} for _ in range(5)])
    refresh_bn_statistics(net, batches, 2, lambda model, batch: model(batch["x"]))
    assert len(list(batches)) == 3 and net.training


def test_negative_batch_count_is_refused():
    with pytest.raises(ValueError, match="precise_bn_batches"):
        TrainConfig(precise_bn_batches=-1)
