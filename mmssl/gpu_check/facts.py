"""The machine the figures belong to: `nvidia-smi -q` (GPU name, driver, CUDA, memory, NVDEC / NVJPG
engine counts), NVML's count of the whole GPU's engines, and the library versions.

`nvidia-smi -q` lists engine counts per MIG device only; with MIG off, NVML's full-GPU instance
profile (7 slices) gives them. When neither does, the counts stay None and the loaders part says
which count it assumed. Without a GPU every field says why it is missing: nothing is invented.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from mmssl.bench.machine import machine_info

SMI_TIMEOUT_S = 30
ENGINE_LINE = re.compile(r"^\s*(Decoder|Encoder|JPG|JPEG|OFA) [Cc]ount\s*:\s*(\d+)", re.MULTILINE)
ENGINE_NAMES = {"Decoder": "nvdec", "Encoder": "nvenc", "JPG": "nvjpg", "JPEG": "nvjpg", "OFA": "ofa"}


def field(text: str, name: str, after: str | None = None) -> str | None:
    """The value of the first `name : value` line (after the line starting with `after`, when given)."""
    if after is not None:
        start = re.search(rf"^\s*{re.escape(after)}\s*$", text, re.MULTILINE)
        if start is None:
            return None
        text = text[start.end():]
    found = re.search(rf"^\s*{re.escape(name)}\s*:\s*(.+?)\s*$", text, re.MULTILINE)
    return found.group(1) if found else None


def parse_smi_query(text: str) -> dict:
    """The facts of `nvidia-smi -q` output (first GPU); engine counts summed over its MIG devices, if any."""
    engines: dict[str, int] = {}
    for kind, count in ENGINE_LINE.findall(text):
        engines[ENGINE_NAMES[kind]] = engines.get(ENGINE_NAMES[kind], 0) + int(count)
    total = field(text, "Total", after="FB Memory Usage")
    return {"name": field(text, "Product Name"), "driver": field(text, "Driver Version"),
            "cuda": field(text, "CUDA Version"), "memory_total_mib": int(total.split()[0]) if total else None,
            "mig_mode": field(text, "Current", after="MIG Mode"),
            "nvdec_engines": engines.get("nvdec"), "nvjpg_engines": engines.get("nvjpg"),
            "engine_counts_from": "nvidia-smi -q (MIG devices)" if engines else None}


def nvml_engine_counts() -> dict:
    """NVDEC / NVJPG counts of the full-GPU instance profile, from NVML (nvidia-ml-py), or why not."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, pynvml.NVML_GPU_INSTANCE_PROFILE_7_SLICE)
            return {"nvdec_engines": int(info.decoderCount), "nvjpg_engines": int(info.jpegCount),
                    "engine_counts_from": "NVML full-GPU instance profile"}
        finally:
            pynvml.nvmlShutdown()
    except Exception as error:  # noqa: BLE001 - no NVML, no GPU, or a driver without MIG profiles
        return {"nvml_error": f"{type(error).__name__}: {error}"}


def gpu_facts() -> dict:
    """`nvidia-smi -q` parsed (and kept whole), with NVML's engine counts where it lacks them."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"available": False, "reason": "nvidia-smi not found: no NVIDIA driver on this machine"}
    run = subprocess.run([smi, "-q"], capture_output=True, text=True, timeout=SMI_TIMEOUT_S)
    if run.returncode != 0:
        return {"available": False, "reason": f"nvidia-smi -q failed ({run.returncode}): {run.stderr.strip()[:300]}"}
    facts = {"available": True, **parse_smi_query(run.stdout), "nvidia_smi_q": run.stdout}
    if facts["nvdec_engines"] is None:
        nvml = nvml_engine_counts()
        facts.update({k: v for k, v in nvml.items() if k not in facts or facts[k] is None})
    return facts


def collect(recorder) -> None:
    """The facts part: GPU facts first (they name the machine even if the rest fails), then the machine block."""
    recorder.record(gpu=gpu_facts())
    recorder.record(machine=machine_info())
