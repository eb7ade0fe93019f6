"""`python -m pytest -q -m gpu` over the test files that hold gpu-marked tests, pass / fail per test.

Only those files are collected (found by their `@pytest.mark.gpu` or `pytestmark`), which saves collecting the whole suite;
the per-test outcomes come from pytest's JUnit XML. Without a GPU every test reports skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

GPU_MARK = re.compile(r"^\s*@pytest\.mark\.gpu\b|^pytestmark\s*=.*\bmark\.gpu\b", re.MULTILINE)


def gpu_test_files(tests_dir: Path) -> list[Path]:
    """Test files with a gpu-marked test (a decorated test, or a module-wide `pytestmark`)."""
    return sorted(path for path in Path(tests_dir).glob("test_*.py") if GPU_MARK.search(path.read_text()))


def outcomes(junit_xml: Path) -> list[dict]:
    """One entry per test case: name, outcome (passed / failed / error / skipped), seconds, message."""
    cases = []
    for case in ElementTree.parse(junit_xml).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                message = (found.get("message") or found.text or "").strip()[:500]
                break
        cases.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                      "seconds": float(case.get("time") or 0.0), "message": message})
    return cases


def run(recorder, repo: Path, folder: Path, timeout_s: float) -> None:
    files = gpu_test_files(repo / "tests")
    junit = Path(folder) / "logs" / "gpu_tests.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", f"--junitxml={junit}",
               *(str(path.relative_to(repo)) for path in files)]
    recorder.record(command=" ".join(["python", *command[1:]]), files=[path.name for path in files])
    run = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=timeout_s)
    cases = outcomes(junit) if junit.exists() else []
    counts = {kind: sum(case["outcome"] == kind for case in cases) for kind in ("passed", "failed", "error", "skipped")}
    recorder.record(exit_code=run.returncode, counts=counts, tests=cases, summary=run.stdout.strip().splitlines()[-1:])
    if not cases:
        raise RuntimeError(f"pytest ran no gpu-marked test (exit code {run.returncode}):\n{run.stdout[-2000:]}"
                           f"\n{run.stderr[-2000:]}")
