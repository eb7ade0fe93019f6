"""What the figures were measured on: CPU model and cores, load, GPU and driver, library versions.

A throughput figure without its machine cannot be compared with anything, so every JSON report
carries this block.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from mmssl.bench.cpu_time import usable_cores
from mmssl.bench.gpu_monitor import gpu_unavailable_reason

LIBRARIES = ("torch", "torchvision", "torchaudio", "nvidia-dali-cuda130", "decord", "av", "numpy", "pillow", "mmssl")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    """The vector extensions decoders and resizers use (AVX2, AVX-512)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("flags"):
            return sorted(f for f in line.split(":", 1)[1].split() if f in ("avx2", "avx512f", "avx512bw"))
    return []


def library_versions() -> dict[str, str | None]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def gpu_info() -> dict:
    """Name, driver and memory of each GPU (nvidia-smi), or why there is none."""
    reason = gpu_unavailable_reason()
    if reason is not None:
        return {"available": False, "reason": reason}
    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    try:
        lines = subprocess.run(query, capture_output=True, text=True, timeout=10, check=True).stdout.splitlines()
    except (subprocess.SubprocessError, OSError) as error:
        return {"available": False, "reason": f"nvidia-smi failed: {error}"}
    import torch

    gpus = [dict(zip(("name", "driver", "memory_total"), (v.strip() for v in line.split(",")))) for line in lines]
    return {"available": True, "devices": gpus, "cuda_runtime": torch.version.cuda}


def machine_info() -> dict:
    """The machine block of a report."""
    return {"cpu_model": cpu_model(), "cpu_flags": cpu_flags(), "cores_online": os.cpu_count(),
            "cores_usable": usable_cores(), "load_average_1_5_15": list(os.getloadavg()),
            "python": platform.python_version(), "platform": platform.platform(), "gpu": gpu_info(),
            "libraries": library_versions()}
