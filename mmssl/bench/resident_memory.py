"""This process's resident memory now and at its peak, and the machine's available memory (Linux /proc).

The memory bank's claim is about peak host memory (a transient float32 copy of a shard once killed
a run), so benchmarks and tests read the kernel's high-water mark, after resetting it to the
present, around exactly the work they measure.

The peak is VmHWM, the high-water mark of this process's own memory map. getrusage's ru_maxrss is
not used: the kernel folds into it the peak of the process that forked this one (a child of a 512 MB
parent reported 539 MB before doing anything), and no reset lowers it.
"""

from __future__ import annotations

from pathlib import Path


def _status_kib(field: str, path: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise ValueError(f"{path} has no {field} line: resident memory is read from Linux /proc only")


def resident_bytes() -> int:
    """This process's resident memory now (VmRSS)."""
    return _status_kib("VmRSS", "/proc/self/status") * 1024


def peak_resident_bytes() -> int:
    """The most resident memory this process has held (VmHWM) since it started or since `reset_peak_resident`."""
    return _status_kib("VmHWM", "/proc/self/status") * 1024


def reset_peak_resident() -> None:
    """Lower the peak (VmHWM) to the present resident memory (Linux >= 4.0), so the next
    `peak_resident_bytes` covers only what runs from here."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as error:
        raise OSError(f"cannot reset the peak resident memory via /proc/self/clear_refs ({error}): "
                      "peaks need Linux >= 4.0 with /proc mounted") from None


def available_bytes() -> int:
    """Memory the machine can still give without swapping (MemAvailable): what a new allocation may use."""
    return _status_kib("MemAvailable", "/proc/meminfo") * 1024
