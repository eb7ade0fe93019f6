"""Throughput and loader-wait accounting, the progress line, and TensorBoard scalars (written by the driver)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class StepMeter:
    """Accumulates wall time split into waiting for the loader and computing, between log points."""

    world_size: int
    batch_size: int
    _wait_s: float = 0.0
    _total_s: float = 0.0
    _steps: int = 0
    _losses: list[float] = field(default_factory=list)
    _mark: float = field(default_factory=time.perf_counter)

    def loader_done(self) -> None:
        """Call when the batch arrived: time since the last step ended was spent waiting for data."""
        now = time.perf_counter()
        self._wait_s += now - self._mark
        self._total_s += now - self._mark
        self._mark = now

    def step_done(self, loss: float) -> None:
        now = time.perf_counter()
        self._total_s += now - self._mark
        self._mark = now
        self._steps += 1
        self._losses.append(loss)

    def summary(self) -> dict[str, float]:
        """Metrics since the last call (then resets): mean loss, global samples/s, loader wait fraction."""
        total = max(self._total_s, 1e-9)
        metrics = {
            "loss": sum(self._losses) / max(1, len(self._losses)),
            "samples_per_s": self._steps * self.batch_size * self.world_size / total,
            "loader_wait_fraction": self._wait_s / total,
        }
        self._wait_s = self._total_s = 0.0
        self._steps = 0
        self._losses = []
        return metrics


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
