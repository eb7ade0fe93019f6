"""How a training step uses the GPU, set once before the loop: bf16 autocast, channels_last convolution
trunks, cuDNN autotuning, torch.compile (TrainConfig's `bf16`, `channels_last`, `cudnn_benchmark`,
`compile`).

- channels_last: under bf16, cuDNN's convolution kernels for tensor cores want NHWC (NDHWC for 3D
  convolutions); NCHW weights make it transpose around every convolution. Only the convolution
  weights are converted, in place (the optimizer keeps the same parameters); a convolution with
  channels_last weights returns a channels_last output, so the trunk stays NHWC after its first layer.
- cudnn.benchmark: with fixed input shapes (every loader yields one shape per output), cuDNN times
  its algorithms on the first step and keeps the fastest.
- torch.compile: fuses the network's elementwise work; off by default (it costs a compile at start,
  and again at every new shape).
On a CPU only `compile` applies; `for_device` decides, so a CPU worker never pays for GPU settings.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from mmssl.train.config import TrainConfig

CONV_FORMATS = {nn.Conv2d: torch.channels_last, nn.Conv3d: torch.channels_last_3d}


@dataclass(frozen=True)
class StepSettings:
    bf16: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool = False
    compile: bool = False

    @classmethod
    def for_device(cls, train: TrainConfig, device: torch.device) -> "StepSettings":
        """What `train` asks for that applies on `device` (channels_last only with bf16 on CUDA)."""
        cuda = device.type == "cuda"
        return cls(bf16=cuda and train.bf16, channels_last=cuda and train.bf16 and train.channels_last,
                   cudnn_benchmark=cuda and train.cudnn_benchmark, compile=train.compile)

    def autocast(self, device: torch.device) -> AbstractContextManager:
        """bf16 autocast on `device`, or nothing."""
        return torch.autocast(device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()


def to_channels_last(model: nn.Module) -> int:
    """Convert every 2D / 3D convolution weight of `model` in place; the number converted."""
    converted = 0
    for module in model.modules():
        memory_format = next((f for kind, f in CONV_FORMATS.items() if isinstance(module, kind)), None)
        if memory_format is not None:  # subclasses too (torchvision's Conv3DSimple, Conv2Plus1D's parts)
            module.weight.data = module.weight.data.contiguous(memory_format=memory_format)
            converted += 1
    return converted


def prepare_model(model: nn.Module, settings: StepSettings) -> nn.Module:
    """Layout and cuDNN settings, before any DDP wrap (DDP's buckets follow the parameters' layout)."""
    if settings.channels_last:
        to_channels_last(model)
    torch.backends.cudnn.benchmark = settings.cudnn_benchmark
    return model


def compiled(model: nn.Module, settings: StepSettings, backend: str = "inductor") -> nn.Module:
    """torch.compile of the model the loop calls, after any DDP wrap (TorchDynamo splits DDP's buckets)."""
    return torch.compile(model, backend=backend) if settings.compile else model


def optimizer_step(method, model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict,
                   autocast: AbstractContextManager) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One step of `method` on `batch`: forward under `autocast`, backward, update. Returns (loss, metrics),
    still on the device: nothing here waits for the GPU."""
    with autocast:
        loss, metrics = method.training_step(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, metrics
