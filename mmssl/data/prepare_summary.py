"""The run summary: counts by modality, bytes, rejections by reason, time and rate (summary.json)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa


def reason_category(reason: str) -> str:
    """The part of a reason worth counting: "empty file" from "empty file (0 bytes)",
    "unreadable video container" from "unreadable video container: Invalid data found"."""
    return reason.split(":")[0].split(" (")[0].strip()


class SummaryTally:
    """Accumulates counts part by part, so a 100M-row manifest is never held in memory."""

    def __init__(self):
        self.by_modality: dict[str, dict[str, int]] = {}
        self.reasons: Counter = Counter()

    def add(self, manifest_part: pa.Table, rejected_part: pa.Table) -> None:
        for modality, size in zip(manifest_part.column("modality").to_pylist(), manifest_part.column("bytes").to_pylist()):
            entry = self.by_modality.setdefault(modality, {"count": 0, "bytes": 0})
            entry["count"] += 1
            entry["bytes"] += size
        self.reasons.update(reason_category(r) for r in rejected_part.column("reason").to_pylist())

    def summary(self, shards: int, elapsed_s: float, this_run_inputs: int, this_run_s: float) -> dict:
        accepted = sum(entry["count"] for entry in self.by_modality.values())
        rejected = sum(self.reasons.values())
        inputs = accepted + rejected
        return {
            "complete": True,
            "inputs": inputs,
            "accepted": accepted,
            "rejected": rejected,
            "by_modality": dict(sorted(self.by_modality.items())),
            "bytes": sum(entry["bytes"] for entry in self.by_modality.values()),
            "shards": shards,
            "rejected_by_reason": dict(sorted(self.reasons.items())),
            "time_s": round(elapsed_s, 3),
            "files_per_s": round(inputs / elapsed_s, 2) if elapsed_s > 0 else None,
            "this_run": {"inputs": this_run_inputs, "time_s": round(this_run_s, 3)},
        }


def format_summary(summary: dict) -> str:
    """A few lines for the terminal."""
    lines = [f"inputs {summary['inputs']}: accepted {summary['accepted']}, rejected {summary['rejected']}"]
    for modality, entry in summary["by_modality"].items():
        lines.append(f"  {modality}: {entry['count']} samples, {entry['bytes'] / 1e6:.1f} MB")
    for reason, count in summary["rejected_by_reason"].items():
        lines.append(f"  rejected ({reason}): {count}")
    lines.append(f"{summary['shards']} shards, time {summary['time_s']:.1f} s, {summary['files_per_s']} files/s")
    return "\n".join(lines)
