"""Where a sample's time goes: read, decode, augment, from rows measured on the same data and settings.

read = the `read-only` row; decode = `decode-only-<device>` minus read; augment = `dali-<device>`
minus decode-only. Each is given per sample in CPU milliseconds (all processes: the steadier
figure when the machine is shared) and in wall milliseconds (1000 / samples per second; stages
overlap in a pipelined loader, so wall differences are what each stage adds, not what it costs
alone). The decode-only rate is the ceiling: `of_ceiling` is how close the full loader comes to it.
"""

from __future__ import annotations


def ms_per_sample(row: dict) -> tuple[float, float]:
    """(wall, CPU) milliseconds per sample of a row, from the medians over repeats."""
    return 1000 / row["samples_per_s"]["median"], row["cpu_ms_per_sample"]["median"]


def stage_breakdown(rows: list[dict], device: str) -> dict | None:
    """The breakdown of `dali-<device>` from one configuration's rows; None when a row it needs is missing."""
    by_backend = {row["backend"]: row for row in rows if row["hw_decoder_load"] in (None, _first_load(rows))}
    needed = ("read-only", f"decode-only-{device}", f"dali-{device}")
    if not all(name in by_backend for name in needed):
        return None
    read, ceiling, full = (by_backend[name] for name in needed)
    (read_wall, read_cpu), (decode_wall, decode_cpu), (full_wall, full_cpu) = map(ms_per_sample, (read, ceiling, full))
    return {
        "backend": f"dali-{device}",
        "wall_ms_per_sample": {"read": read_wall, "decode": decode_wall - read_wall,
                               "augment": full_wall - decode_wall},
        "cpu_ms_per_sample": {"read": read_cpu, "decode": decode_cpu - read_cpu, "augment": full_cpu - decode_cpu},
        "decode_ceiling_samples_per_s": ceiling["samples_per_s"]["median"],
        "of_ceiling": full["samples_per_s"]["median"] / ceiling["samples_per_s"]["median"],
    }


def _first_load(rows: list[dict]):
    """The hardware-decoder load the breakdown uses when several were swept (the first measured)."""
    loads = [row["hw_decoder_load"] for row in rows if row["hw_decoder_load"] is not None]
    return loads[0] if loads else None
