"""Running a recipe's embedded default as a user runs it, and reading the figures it prints: shared by
the opt-in learning tests (tests/test_image_learning.py, tests/test_video_learning.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def run_embedded(recipe: str, cache_dir: Path, runs_dir: Path) -> str:
    """`python -m mmssl.recipes.<recipe>` on its embedded default (data cached in `cache_dir`); its stdout."""
    done = subprocess.run([sys.executable, "-m", f"mmssl.recipes.{recipe}", "--cache-dir", str(cache_dir),
                           "--storage", str(runs_dir), "--name", recipe],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def printed_figure(label: str, text: str) -> float:
    """The number printed after `label` in a recipe's output."""
    found = re.search(rf"{label}\s+([0-9.]+)", text)
    assert found, f"no '{label}' line in the recipe's output:\n{text[-2000:]}"
    return float(found.group(1))


def printed_knn(recipe: str, out: str) -> tuple[float, float]:
    """(trained, random-init) held-out kNN accuracy a recipe printed, echoed so a run's log shows the margin."""
    trained, random_init = printed_figure("trained features:", out), printed_figure("random-init features:", out)
    print(f"{recipe}: held-out kNN {trained:.3f} trained vs {random_init:.3f} random init")
    return trained, random_init
