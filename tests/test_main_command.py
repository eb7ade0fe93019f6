"""README's main command, `python -m mmssl.recipes.pirl_yfcc`, runs its embedded default to the end.

This is also the check that learning is real: the run scores its features with kNN on held-out
images of the generated classes, and the trained network must beat the same network at
initialisation; then the linear probe (python -m mmssl.recipes.linear_probe) on the run's directory
must find the same at res5.
"""

import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_embedded_default_runs_and_learns(tmp_path):
    command = [sys.executable, "-m", "mmssl.recipes.pirl_yfcc",
               "--cache-dir", str(tmp_path / "cache"), "--storage", str(tmp_path / "runs")]
    as_a_user_runs_it = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}  # Ray's token auth on
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path, env=as_a_user_runs_it)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "Failed to query Ray Train Controller" not in output  # no warning flood from Ray Train's cleaner
    assert "accepted 480, rejected 4" in output  # the generated corrupt files are refused, not fatal
    assert "step    150/150" in output and "run finished" in output
    trained = float(re.search(r"trained features:\s+([0-9.]+)", output).group(1))
    random_init = float(re.search(r"random-init features:\s+([0-9.]+)", output).group(1))
    print(f"held-out kNN accuracy on the 6 generated classes: trained {trained:.3f}, random init {random_init:.3f}")
    assert trained >= random_init + 0.05
    (run_dir,) = [path.parent for path in (tmp_path / "runs").glob("*/run_spec.json")]
    assert list(run_dir.glob("checkpoint_*"))

    from mmssl.recipes import linear_probe

    data = tmp_path / "cache" / "embedded-v2"
    probe = ["--checkpoint", str(run_dir), "--data", str(data / "train" / "data"),
             "--held-out-data", str(data / "held_out" / "data"), "--layers", "res4,res5"]
    curves = {}
    for name, extra in (("trained", []), ("random init", ["--random-init"])):
        assert linear_probe.main(probe + extra + ["--json", str(tmp_path / f"{name}.json")]) == 0
        curves[name] = json.loads((tmp_path / f"{name}.json").read_text())
    print("held-out linear probe per layer:", curves)
    assert list(curves["trained"]) == ["res4", "res5"]
    assert curves["trained"]["res5"] > curves["random init"]["res5"]
