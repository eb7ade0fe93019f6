"""Throughput and loader-wait accounting, the progress line, and TensorBoard scalars (written by the driver).

Step metrics stay tensors on the device between log points: reading one (`.item()`, `float()`) makes
the host wait for every kernel queued so far, so a read per step keeps the host from queuing the
next step while this one runs. They are read once, together, at a log step (`host_values`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch


@dataclass
class StepMeter:
    """Accumulates wall time split into waiting for the loader and computing, between log points."""

    world_size: int
    batch_size: int
    _wait_s: float = 0.0
    _total_s: float = 0.0
    _steps: int = 0
    _loss_sum: torch.Tensor | float = 0.0  # on the loss's device until `summary` reads it
    _mark: float = field(default_factory=time.perf_counter)

    def loader_done(self) -> None:
        """Call when the batch arrived: time since the last step ended was spent waiting for data."""
        now = time.perf_counter()
        self._wait_s += now - self._mark
        self._total_s += now - self._mark
        self._mark = now

    def step_done(self, loss: torch.Tensor) -> None:
        """Call when the step is queued; the loss is summed where it lives (no host read)."""
        now = time.perf_counter()
        self._total_s += now - self._mark
        self._mark = now
        self._steps += 1
        self._loss_sum = self._loss_sum + loss.detach().float()

    def summary(self) -> dict[str, float]:
        """Metrics since the last call (then resets): mean loss, global samples/s, loader wait fraction.

        Reading the loss waits for the queued steps to finish; that wait is compute time of these steps."""
        mean_loss = float(self._loss_sum) / max(1, self._steps)
        now = time.perf_counter()
        self._total_s += now - self._mark
        self._mark = now
        total = max(self._total_s, 1e-9)
        metrics = {
            "loss": mean_loss,
            "samples_per_s": self._steps * self.batch_size * self.world_size / total,
            "loader_wait_fraction": self._wait_s / total,
        }
        self._wait_s = self._total_s = 0.0
        self._steps = 0
        self._loss_sum = 0.0
        return metrics


def host_values(metrics: dict[str, torch.Tensor | float]) -> dict[str, float]:
    """A step's metrics as Python floats, in their order, with one device-to-host copy per device."""
    read: dict[str, float] = {}
    by_device: dict[torch.device, list[str]] = {}
    for name, value in metrics.items():
        if isinstance(value, torch.Tensor):
            by_device.setdefault(value.device, []).append(name)
    for names in by_device.values():
        values = torch.stack([metrics[name].detach().float().reshape(()) for name in names]).tolist()
        read.update(zip(names, values))
    return {name: read[name] if name in read else float(value) for name, value in metrics.items()}


def progress_line(step: int, total_steps: int, epoch: int, metrics: dict[str, float], lr: float) -> str:
    return (
        f"step {step:>6}/{total_steps} ({100 * step / max(1, total_steps):5.1f}%)  epoch {epoch:>3}  "
        f"loss {metrics['loss']:.4f}  lr {lr:.4g}  {metrics['samples_per_s']:8.1f} samples/s  "
        f"loader wait {100 * metrics['loader_wait_fraction']:4.1f}%"
    )


class TensorBoardLog:
    """Scalars into a TensorBoard log; `mmssl.cluster.run_files.RunFiles` feeds it rank 0's reports."""

    def __init__(self, log_dir: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=log_dir)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
