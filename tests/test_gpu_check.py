"""tools/gpu_check.py: the dry run on this CPU machine fills every section (marked as not GPU figures);
parts fail or time out alone; nvidia-smi's facts are parsed; the budget scales the sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmssl.gpu_check.check import with_dependencies
from mmssl.gpu_check.facts import parse_smi_query
from mmssl.gpu_check.report import DRY_RUN_NOTICE
from mmssl.gpu_check.runner import run_part
from mmssl.gpu_check.sizes import GPU_BUDGET_S, LOADER_PIPELINES, PART_SHARES, PARTS, TRAINING_RECIPES, sizes_for

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    run = subprocess.run([sys.executable, "tools/gpu_check.py", "--out", str(out), "--dry-run"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    return run, json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


def test_dry_run_passes_and_says_it_is_no_gpu_figure(dry_run):
    run, report, markdown = dry_run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert report["dry_run"] and report["notice"] == DRY_RUN_NOTICE == "dry run, not GPU figures"
    assert list(report["parts"]) == list(PARTS)
    assert all(part["status"] == "ok" and part["error"] is None for part in report["parts"].values())
    assert all(part["wall_s"] <= part["limit_s"] for part in report["parts"].values())
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert len(headings) == 1 + len(PARTS) and all(DRY_RUN_NOTICE in heading for heading in headings)
    assert run.stdout.count(DRY_RUN_NOTICE) == 1 and "gpu_check.json" in run.stdout


def test_dry_run_fills_every_section_from_the_cpu_run(dry_run):
    _, report, _ = dry_run
    parts = {name: part["result"] for name, part in report["parts"].items()}
    assert parts["facts"]["gpu"] == {"available": False,
                                     "reason": "nvidia-smi not found: no NVIDIA driver on this machine"}
    assert parts["facts"]["machine"]["libraries"]["torch"]
    gpu_marked = sum(line.lstrip().startswith("@pytest.mark.gpu") for path in (REPO / "tests").glob("test_*.py")
                     for line in path.read_text().splitlines())
    tests = parts["gpu_tests"]["tests"]
    assert len({t["test"].rsplit("[", 1)[0] for t in tests}) == gpu_marked  # every gpu-marked test function ran
    assert {t["outcome"] for t in tests} == {"skipped"} and parts["gpu_tests"]["counts"]["skipped"] == len(tests)

    loaders = parts["loaders"]
    assert list(loaders["pipelines"]) == list(LOADER_PIPELINES)
    for pipeline, entry in loaders["pipelines"].items():
        rows = {row["backend"]: row for row in entry["rows"]}
        assert set(rows) == {"dali-cpu", "torch"}, pipeline
        for row in rows.values():
            assert row["samples"] > 0 and row["samples_per_s"] == pytest.approx(row["samples"] / row["wall_s"], rel=1e-6)
            assert row["gpu_utilisation_pct"] is None and row["gpu_peak_memory_mib"] is None  # no GPU figure
        assert rows["dali-cpu"]["x_torch"] == pytest.approx(rows["dali-cpu"]["samples_per_s"] / rows["torch"]["samples_per_s"])
    nvdec = loaders["nvdec"]
    assert [row["pipelines"] for row in nvdec["rows"]] == [1, 2] and nvdec["engines"] is None
    assert all(row["samples"] > 0 and not row["gpu"]["available"] for row in nvdec["rows"])

    for recipe in TRAINING_RECIPES:
        run = parts["training"][recipe]
        assert run["device"] == "cpu" and run["steps"] == report["sizes"]["train_steps"]
        assert run["samples_per_s"] > 0 and 0 <= run["loader_wait_fraction"] < 1
        assert run["step_ms"] == pytest.approx(1000 * run["batch_size"] / run["samples_per_s"])
        assert run["memory"]["gpu"] is None and run["memory"]["host_peak_rss_mib"] > 0

    variants = parts["step_hygiene"]["variants"]
    assert [v["variant"] for v in variants] == ["baseline: metrics read every step", "+ metrics read at log steps",
                                                "+ channels_last", "+ cudnn.benchmark", "+ torch.compile"]
    assert variants[0]["x_baseline"] == 1.0 and all(v["step_ms"] > 0 for v in variants)
    # the baseline reads the loss and each of PIRL's three metrics every step; the last variant none of them
    assert variants[0]["host_reads_per_step"] - variants[-1]["host_reads_per_step"] == 1 + 3
    assert variants[-1]["host_reads_per_log_step"] == variants[-1]["host_reads_per_step"] + 1  # one copy at a log step

    ddp = parts["ddp"]
    assert ddp["backend"] == "gloo" and ddp["ddp"]["weights_equal"] and ddp["bank"]["equal_to_local_bank"]


def _fails(recorder):
    recorder.record(before=1)
    raise ValueError("part broke")


def _hangs(recorder):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    recorder.record(measured=42, grandchild=child.pid)
    time.sleep(60)


def test_a_failing_part_keeps_its_traceback_and_what_it_recorded(tmp_path):
    outcome = run_part("failing", _fails, limit_s=30, folder=tmp_path)
    assert outcome.status == "failed" and outcome.result == {"before": 1}
    assert "ValueError: part broke" in outcome.error


def test_a_part_past_its_limit_is_killed_with_everything_it_started(tmp_path):
    started = time.monotonic()
    outcome = run_part("hanging", _hangs, limit_s=3, folder=tmp_path)
    assert outcome.status == "timed out" and 3 <= outcome.wall_s < 10 and time.monotonic() - started < 10
    assert outcome.result["measured"] == 42 and "killed after 3 s" in outcome.error
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):  # its own child process went with it (or is a reaped zombie)
        os.kill(outcome.result["grandchild"], 0)
        state = Path(f"/proc/{outcome.result['grandchild']}/stat").read_text().split()[2]
        if state == "Z":
            raise ProcessLookupError


# a shortened `nvidia-smi -q` of a GPU with MIG on and two MIG devices (1 decoder, 1 JPEG engine each)
MIG_DEVICE = """        MIG Device
            Device Attributes
                Shared
                    Copy Engine count     : 1
                    Encoder count         : 0
                    Decoder count         : 1
                    OFA count             : 0
                    JPG count             : 1
"""
SMI_HEAD = """
==============NVSMI LOG==============

Driver Version                            : 580.82.07
CUDA Version                              : 13.0

Attached GPUs                             : 1
GPU 00000000:19:00.0
    Product Name                          : NVIDIA H100 80GB HBM3
    MIG Mode
        Current                           : Enabled
        Pending                           : Enabled
"""
SMI_MEMORY = """    FB Memory Usage
        Total                             : 81559 MiB
        Reserved                          : 551 MiB
        Used                              : 0 MiB
"""


def test_nvidia_smi_facts_are_parsed():
    facts = parse_smi_query(SMI_HEAD + "    MIG Devices\n" + 2 * MIG_DEVICE + SMI_MEMORY)
    assert facts == {"name": "NVIDIA H100 80GB HBM3", "driver": "580.82.07", "cuda": "13.0",
                     "memory_total_mib": 81559, "mig_mode": "Enabled", "nvdec_engines": 2, "nvjpg_engines": 2,
                     "engine_counts_from": "nvidia-smi -q (MIG devices)"}
    without_mig = parse_smi_query(SMI_HEAD + SMI_MEMORY)
    assert without_mig["nvdec_engines"] is None and without_mig["memory_total_mib"] == 81559


def test_budget_scales_limits_and_steps_with_floors():
    assert sum(PART_SHARES.values()) == pytest.approx(1.0)
    full, half = sizes_for(False), sizes_for(False, GPU_BUDGET_S / 2)
    assert full.budget_s == GPU_BUDGET_S < 8 * 60 and sum(full.limit_s(p) for p in PARTS) == pytest.approx(GPU_BUDGET_S)
    assert half.limit_s("training") == pytest.approx(full.limit_s("training") / 2)
    assert half.train_steps == full.train_steps // 2 and half.images == full.images // 2
    assert sizes_for(False, 10).train_steps == 20  # never below the floor that still gives a figure
    assert full.recipe_config == "full" and full.backends == ("dali-gpu", "dali-cpu", "torch") and full.threads == 16
    dry = sizes_for(True)
    assert (dry.device, dry.ddp_backend, dry.threads, dry.backends) == ("cpu", "gloo", 2, ("dali-cpu", "torch"))
    with pytest.raises(ValueError, match="budget"):
        sizes_for(True, 0)


def test_parts_bring_what_they_need():
    assert with_dependencies(("training",)) == ("facts", "data", "training")
    assert with_dependencies(("ddp", "gpu_tests")) == ("facts", "gpu_tests", "ddp")
    with pytest.raises(ValueError, match="unknown part"):
        with_dependencies(("warp_drive",))
