"""GPU utilisation, video-decoder (NVDEC) utilisation and peak device memory while a backend is timed, from
`nvidia-smi` polled in a thread.

nvidia-smi sees all of the device's memory, DALI's own pools included (torch's allocator statistics
would miss them). Without a GPU, or without nvidia-smi, the monitor says why and measures nothing:
no GPU figure is ever invented.
"""

from __future__ import annotations

import shutil
import subprocess
import threading

POLL_S = 0.5
QUERY = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used,utilization.decoder", "--format=csv,noheader,nounits"]


def gpu_unavailable_reason() -> str | None:
    """None when a GPU can be monitored here; otherwise why not."""
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device visible to torch"
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi not found"
    return None


class GpuMonitor:
    """`with GpuMonitor(device_index) as gpu: ...` then `gpu.summary()`: mean and peak utilisation, peak memory."""

    def __init__(self, device_index: int = 0):
        self.device_index, self.reason = device_index, gpu_unavailable_reason()
        self.samples: list[tuple[float, float]] = []  # (utilisation %, memory used MiB)
        self.decoder: list[float] = []  # NVDEC utilisation %, where the driver reports it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "GpuMonitor":
        if self.reason is None:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _poll(self) -> None:
        while True:
            try:
                lines = subprocess.run(QUERY, capture_output=True, text=True, timeout=5, check=True).stdout.splitlines()
                utilisation, memory, decoder = (v.strip() for v in lines[self.device_index].split(","))
                self.samples.append((float(utilisation), float(memory)))
                if decoder.replace(".", "", 1).isdigit():  # "[N/A]" on GPUs without the counter
                    self.decoder.append(float(decoder))
            except (subprocess.SubprocessError, OSError, ValueError, IndexError) as error:
                self.reason = f"nvidia-smi failed: {error}"
                return
            if self._stop.wait(POLL_S):
                return

    def summary(self) -> dict:
        if not self.samples:
            return {"available": False, "reason": self.reason or "the run ended before the first reading"}
        utilisation = [u for u, _ in self.samples]
        return {"available": True, "utilisation_pct_mean": sum(utilisation) / len(utilisation),
                "utilisation_pct_peak": max(utilisation), "peak_memory_mib": max(m for _, m in self.samples),
                "decoder_utilisation_pct_mean": sum(self.decoder) / len(self.decoder) if self.decoder else None,
                "readings": len(self.samples)}
