"""CPU time of this process and every process below it (DataLoader workers, DALI source workers,
decoder children): the figure that stays comparable when other jobs share the machine and wall-clock
rates wander."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def descendants() -> list[int]:
    """Pids of every process below this one."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # a process that ended while we looked
            pass
    found, frontier = [], {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier}
        found += frontier
    return found


def process_cpu_s() -> dict[int, float]:
    """CPU seconds (user + system) used so far by this process (all threads; key 0) and by each descendant."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = {0: usage.ru_utime + usage.ru_stime}
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in descendants():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return used


def cpu_split_since(start: dict[int, float]) -> tuple[float, float]:
    """(this process's, the processes below it's) CPU seconds since `start` (a `process_cpu_s()` reading; a
    process started meanwhile counts from 0). Apart, a server this process started (the benchmark's local
    S3 store) is told from the loader it serves."""
    used = process_cpu_s()
    own = used.pop(0) - start.get(0, 0.0)
    return own, sum(value - start.get(pid, 0.0) for pid, value in used.items())


def usable_cores() -> int:
    """Cores this process may run on (its affinity), the denominator of CPU utilisation."""
    return len(os.sched_getaffinity(0))
