"""tools/bench_loader.py and mmssl.bench.profile: exact accounting, the JSON schema, ratios from the
figures, sweeps and the GOP comparison, unavailable backends reported, clear errors."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from mmssl.bench.demo_data import generate_image_dataset
from mmssl.bench.report import REPORT_KEYS, ROW_KEYS

TOOL = Path(__file__).resolve().parents[1] / "tools" / "bench_loader.py"
HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_loader", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return generate_image_dataset(tmp_path_factory.mktemp("bench_images"), 12)


def test_image_run_counts_every_batch_and_reports_every_figure(bench, images, tmp_path, capsys):
    out, chart = tmp_path / "bench.json", tmp_path / "bench.png"
    assert bench.main(["--data", str(images), "--pipeline", "rotation", "--backend", "dali-gpu,dali-cpu,torch",
                       "--batches", "2", "--warmup", "1", "--rounds", "2", "--batch-size", "4", "--threads", "1",
                       "--train-recipe", "rotation", "--train-steps", "1", "--train-batch-size", "2",
                       "--json", str(out), "--plot", str(chart)]) == 0
    report = json.loads(out.read_text())
    assert tuple(report) == REPORT_KEYS and report["schema"] == "mmssl.bench_loader.v2"
    assert {"cpu_model", "cores_usable", "gpu", "libraries"} <= set(report["machine"])
    assert report["machine"]["libraries"]["nvidia-dali-cuda130"] and "antialias=False" in report["resize_filtering"]

    rows = report["results"]
    expected = ["dali-cpu", "torch", "read-only", "decode-only-cpu"]
    if HAS_CUDA:
        expected = ["dali-gpu", *expected, "decode-only-gpu"]
    else:
        assert {"backend": "dali-gpu", "reason": "no CUDA device visible to torch"} in report["unavailable"]
        assert "dali-gpu: skipped, no CUDA device visible to torch" in capsys.readouterr().out
    assert [r["backend"] for r in rows] == expected
    torch_row = rows[expected.index("torch")]
    torch_rate = torch_row["samples_per_s"]["median"]
    for row in rows:
        assert tuple(row) == ROW_KEYS
        assert row["batches_per_round"] == [2, 2] and row["samples_per_round"] == [8, 8] and row["warmup_batches"] == 1
        rates = [s / w for s, w in zip(row["samples_per_round"], row["wall_s_per_round"])]
        assert row["samples_per_s"]["repeats"] == pytest.approx(rates)
        assert row["samples_per_s"]["median"] == pytest.approx(sum(rates) / 2)
        assert row["ratio_to_torch"] == pytest.approx(row["samples_per_s"]["median"] / torch_rate)
        assert row["cpu_ratio_to_torch"] == pytest.approx(torch_row["cpu_ms_per_sample"]["median"]
                                                          / row["cpu_ms_per_sample"]["median"])
        assert row["gpu"]["available"] is (HAS_CUDA and row["backend"].endswith("gpu"))

    (stage,) = [s for s in report["stages"] if s["backend"] == "dali-cpu"]
    dali = rows[expected.index("dali-cpu")]
    assert sum(stage["wall_ms_per_sample"].values()) == pytest.approx(1000 / dali["samples_per_s"]["median"])
    assert sum(stage["cpu_ms_per_sample"].values()) == pytest.approx(dali["cpu_ms_per_sample"]["median"])

    training = report["training"]
    assert training["method"] == "rotation" and training["batch_size"] == 2 and training["steps"] == 1
    assert 0 <= training["data_wait_fraction"] < 1 and training["fed_steps_per_s"] > 0
    fed_over_synthetic = training["fed_steps_per_s"] / training["synthetic_steps_per_s"]
    assert training["data_overhead_fraction"] == pytest.approx(1 - fed_over_synthetic)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_video_sweep_covers_the_grid_and_compares_gops(bench, tmp_path):
    out = tmp_path / "bench.json"
    assert bench.main(["--pipeline", "clips", "--backend", "dali-cpu", "--threads", "1,2", "--gop", "8,24",
                       "--videos", "1", "--batch-size", "2", "--batches", "1", "--warmup", "0", "--rounds", "1",
                       "--source-workers", "0", "--options", '{"crop_px": 32, "frames": 4}', "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [d["gop"] for d in report["datasets"]] == [8, 24]
    assert "1 videos x 4 copies" in report["datasets"][0]["description"]  # 2 x (0 + 1) batches x 2 samples
    grid = {(r["gop"], r["threads"], r["backend"]) for r in report["results"]}
    assert grid == {(g, t, b) for g in (8, 24) for t in (1, 2) for b in ("dali-cpu", "read-only", "decode-only-cpu")}
    assert all(r["samples_per_round"] == [2] and r["ratio_to_torch"] is None for r in report["results"])
    assert len(report["stages"]) == 4 and report["training"] is None
    rate = {(r["gop"], r["threads"], r["backend"]): r["samples_per_s"]["median"] for r in report["results"]}
    for c in report["gop_comparison"]:
        key = (c["gop"], c["threads"], c["backend"])
        assert c["x_longest_gop"] == pytest.approx(rate[key] / rate[24, c["threads"], c["backend"]])


def test_missing_dataset_is_a_clear_error(bench, tmp_path, capsys):
    assert bench.main(["--data", str(tmp_path / "nowhere"), "--backend", "dali-cpu"]) == 2
    err = capsys.readouterr().err
    assert f"--data {tmp_path / 'nowhere'}: no such directory" in err and "tools/prepare_data.py" in err


@pytest.mark.parametrize("argv", [
    ["--backend", "dali-cpu,tensorflow"],
    ["--pipeline", "pirl", "--gop", "16,250"],  # GOP is a video setting
    ["--pipeline", "clips", "--hw-decoder-load", "0.5"],  # nvJPEG decodes images only
    ["--threads", "0"],
    ["--pipeline", "pirl", "--train-recipe", "no_such_recipe"],
])
def test_bad_settings_are_refused_before_anything_runs(bench, argv):
    with pytest.raises(SystemExit):
        bench.main(argv)
