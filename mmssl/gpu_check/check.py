"""The GPU check from start to end: each part in turn, each in its own process under its own limit,
then the report. A part that fails or times out is recorded with its error and the rest still run;
a part whose input is missing (the loaders without the data part) is skipped and says why.

The check itself never touches the GPU (only its parts do), so forking them is safe. Without
`dry_run`, a machine whose facts show no GPU stops after the facts part: nothing else there would
be a GPU figure.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Callable

from mmssl.gpu_check import data, ddp, facts, gpu_tests, loaders, step_hygiene, training
from mmssl.gpu_check.report import DRY_RUN_NOTICE, SCHEMA
from mmssl.gpu_check.runner import PartOutcome, run_part
from mmssl.gpu_check.sizes import PARTS, CheckSizes

NEEDS_DATA = ("loaders", "training", "step_hygiene")


def with_dependencies(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The asked parts, in the check's order, with the facts and (when needed) the data they read."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    wanted = set(parts) | {"facts"} | ({"data"} if set(parts) & set(NEEDS_DATA) else set())
    return tuple(part for part in PARTS if part in wanted)


def part_target(name: str, sizes: CheckSizes, results: dict, data_root: Path, repo: Path, out: Path,
                limit_s: float) -> Callable:
    """What the part's process runs, given the results of the parts before it."""
    gpu = results.get("facts", {}).get("gpu", {})
    made = results.get("data", {})
    target = {
        "facts": lambda recorder: facts.collect(recorder),
        "gpu_tests": lambda recorder: gpu_tests.run(recorder, repo, out, timeout_s=max(1.0, limit_s - 5)),
        "data": lambda recorder: data.generate(recorder, sizes, data_root),
        "loaders": lambda recorder: loaders.run(recorder, sizes, made, gpu, deadline=time.monotonic() + limit_s),
        "training": lambda recorder: training.run(recorder, sizes, made),
        "step_hygiene": lambda recorder: step_hygiene.run(recorder, sizes, made),
        "ddp": lambda recorder: ddp.run(recorder, sizes),
    }[name]

    def in_part(recorder) -> None:
        import torch

        torch.set_num_threads(sizes.torch_threads)
        target(recorder)

    return in_part


def skip_reason(name: str, sizes: CheckSizes, outcomes: dict[str, PartOutcome]) -> str | None:
    gpu = outcomes["facts"].result.get("gpu", {}) if "facts" in outcomes else {}
    if name != "facts" and not sizes.dry_run and not gpu.get("available"):
        return f"no GPU here ({gpu.get('reason', 'facts missing')}): on a CPU-only machine run with --dry-run"
    data_outcome = outcomes.get("data")
    if name in NEEDS_DATA and (data_outcome is None or data_outcome.status != "ok"):
        return "needs the data part, which did not finish"
    return None


def run_check(out: Path, sizes: CheckSizes, parts: tuple[str, ...], repo: Path, command: str,
              progress: Callable[[str], None] = partial(print, flush=True)) -> dict:
    """Run `parts` (with their dependencies) and return the report dict (see report.py)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started, date = time.monotonic(), datetime.now().isoformat(timespec="seconds")
    data_root = Path(tempfile.mkdtemp(prefix="gpu-check-data-"))
    outcomes: dict[str, PartOutcome] = {}
    try:
        for name in with_dependencies(parts):
            limit_s = sizes.limit_s(name)
            if (reason := skip_reason(name, sizes, outcomes)) is not None:
                outcomes[name] = PartOutcome(name, "skipped", 0.0, limit_s, {}, reason)
            else:
                results = {done: outcome.result for done, outcome in outcomes.items()}
                target = part_target(name, sizes, results, data_root, repo, out, limit_s)
                outcomes[name] = run_part(name, target, limit_s, out)
            outcome = outcomes[name]
            progress(f"gpu_check: {name} {outcome.status} in {outcome.wall_s:.1f} s (limit {limit_s:.0f} s)"
                     + (f": {outcome.error.strip().splitlines()[-1]}" if outcome.error else ""))
    finally:
        shutil.rmtree(data_root, ignore_errors=True)
    return {"schema": SCHEMA, "dry_run": sizes.dry_run, "notice": DRY_RUN_NOTICE if sizes.dry_run else None,
            "date": date, "command": command, "budget_s": sizes.budget_s, "wall_s": time.monotonic() - started,
            "sizes": {k: v for k, v in vars(sizes).items()},
            "parts": {name: outcome.as_dict() for name, outcome in outcomes.items()}}
