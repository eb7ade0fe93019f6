"""Step settings: what applies on which device, channels_last trunks that compute the same function,
cuDNN's flag, and torch.compile behind `train.compile`."""

import copy

import pytest
import torch

from mmssl.models.audio_backbone import build_audio_backbone
from mmssl.models.video_backbone import VideoBackbone
from mmssl.train.config import TrainConfig
from mmssl.train.step_settings import StepSettings, compiled, optimizer_step, prepare_model, to_channels_last


def test_gpu_settings_apply_on_cuda_only_and_channels_last_only_under_bf16():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert StepSettings.for_device(TrainConfig(), cpu) == StepSettings()
    assert StepSettings.for_device(TrainConfig(), cuda) == StepSettings(bf16=True, channels_last=True,
                                                                         cudnn_benchmark=True)
    assert StepSettings.for_device(TrainConfig(bf16=False), cuda).channels_last is False
    assert StepSettings.for_device(TrainConfig(compile=True), cpu).compile is True


@pytest.mark.parametrize("network, inputs", [
    (lambda: VideoBackbone("r3d_18_narrow"), lambda: torch.randn(2, 3, 4, 32, 32)),
    (lambda: build_audio_backbone("vgg_narrow"), lambda: torch.randn(2, 1, 32, 32)),
])
def test_channels_last_converts_every_convolution_and_keeps_the_function(network, inputs, one_thread):
    torch.manual_seed(0)
    reference = network().eval()
    converted = copy.deepcopy(reference)
    convolutions = [m for m in converted.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
    parameters = list(converted.parameters())
    assert to_channels_last(converted) == len(convolutions) > 0
    assert list(converted.parameters()) == parameters  # the same parameter objects: an optimizer keeps them
    for conv in convolutions:
        layout = torch.channels_last if conv.weight.dim() == 4 else torch.channels_last_3d
        assert conv.weight.is_contiguous(memory_format=layout)
        if conv.weight.shape[1] > 1 and conv.weight[0, 0].numel() > 1:  # (else both layouts are one)
            assert not conv.weight.is_contiguous()
    x = inputs()
    with torch.no_grad():
        assert torch.allclose(converted(x), reference(x), atol=1e-5)


def test_prepare_model_sets_cudnn_benchmark_both_ways():
    model = torch.nn.Conv2d(3, 4, 3)
    before = torch.backends.cudnn.benchmark
    try:
        prepare_model(model, StepSettings(cudnn_benchmark=True))
        assert torch.backends.cudnn.benchmark is True and model.weight.is_contiguous()
        prepare_model(model, StepSettings(cudnn_benchmark=False))
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before


class Regression:
    """The smallest method: squared error of a linear model."""

    def __init__(self):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(4, 1)

    def training_step(self, model, batch):
        loss = (model(batch["x"]) - batch["y"]).square().mean()
        return loss, {"loss": loss.detach()}


def test_compiled_step_takes_the_same_step_as_eager(one_thread):
    batch = {"x": torch.randn(8, 4, generator=torch.Generator().manual_seed(1)), "y": torch.ones(8, 1)}
    weights = []
    for settings in (StepSettings(), StepSettings(compile=True)):
        method = Regression()
        model = compiled(method.model, settings, backend="eager")
        assert (model is method.model) is not settings.compile
        optimizer = torch.optim.SGD(method.model.parameters(), lr=0.1)
        loss, metrics = optimizer_step(method, model, optimizer, batch, settings.autocast(torch.device("cpu")))
        assert torch.equal(metrics["loss"], loss.detach())
        weights.append(method.model.weight.detach().clone())
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], Regression().model.weight)
