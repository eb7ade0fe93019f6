"""A run the cluster cannot host fails within seconds, naming what was asked, what there is, and the fix."""

from __future__ import annotations

import importlib
import shutil
import time

import pytest

from mmssl.cluster.resources import missing_resources, wait_for_resources
from mmssl.train.config import ClusterConfig


def test_a_run_that_fits_passes():
    assert missing_resources(ClusterConfig(num_workers=2, cpus_per_worker=1), {"CPU": 2.0}) is None
    assert missing_resources(ClusterConfig(num_workers=4, use_gpu=True, cpus_per_worker=8),
                             {"CPU": 64.0, "GPU": 4.0}) is None


def test_too_many_cpus_names_the_sum_the_cluster_and_the_flags():
    problem = missing_resources(ClusterConfig(num_workers=8, cpus_per_worker=8), {"CPU": 2.0})
    assert "8 worker(s) x 8 CPU(s) = 64 CPUs" in problem and "has 2 CPUs" in problem
    assert "--num-workers" in problem and "cluster.cpus_per_worker" in problem


def test_gpus_on_a_cpu_only_cluster_point_to_cpu():
    problem = missing_resources(ClusterConfig(num_workers=2, use_gpu=True), {"CPU": 16.0})
    assert "2 GPU(s)" in problem and "0 GPUs" in problem and "--cpu" in problem
    problem = missing_resources(ClusterConfig(num_workers=4, use_gpu=True), {"CPU": 16.0, "GPU": 2.0})
    assert "at most 2 worker(s)" in problem


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_recipe_with_gpu_on_this_cpu_machine_fails_fast(image_dataset, capsys):
    recipe = importlib.import_module("mmssl.recipes.simclr")
    started = time.monotonic()
    assert recipe.main(["--data", str(image_dataset), "--gpu", "--num-workers", "1"]) == 2
    assert time.monotonic() - started < 60  # Ray's start, then the refusal: no waiting for resources
    error = capsys.readouterr().err
    assert "GPU" in error and "--cpu" in error


def test_an_unreadable_dataset_is_refused_by_name(tmp_path, capsys):
    (tmp_path / "manifest.parquet").write_bytes(b"not a parquet file")
    recipe = importlib.import_module("mmssl.recipes.simclr")
    assert recipe.main(["--data", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert f"cannot read the dataset in {tmp_path}" in error and "re-run preparation" in error


class _GrowingCluster:
    """A cluster whose autoscaler adds a 4-CPU node every `every_s` seconds of a simulated clock."""

    def __init__(self, every_s: float, max_cpus: float):
        self.now_s, self.every_s, self.max_cpus, self.requests = 0.0, every_s, max_cpus, []

    def resources(self) -> dict[str, float]:
        return {"CPU": min(self.max_cpus, 4.0 * (1 + int(self.now_s // self.every_s)))}

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds


def _wait(cluster_config, cluster, messages):
    return wait_for_resources(cluster_config, cluster.resources, cluster.requests.append, messages.append,
                              clock=lambda: cluster.now_s, sleep=cluster.sleep)


def test_waiting_on_an_autoscaling_cluster_starts_once_the_workers_fit():
    config = ClusterConfig(num_workers=3, cpus_per_worker=4, wait_for_resources_s=300)
    cluster, messages = _GrowingCluster(every_s=60, max_cpus=64), []
    assert _wait(config, cluster, messages) is None
    assert 120 <= cluster.now_s < 300  # the third node arrived at 120 s
    assert cluster.requests == [[{"CPU": 4}] * 3, []]  # asked for the workers, then withdrew the ask
    assert "waiting up to 300 s" in messages[0] and "12 CPUs" in messages[0] and "has 4 CPUs" in messages[0]


def test_waiting_is_bounded_and_ends_with_the_same_clear_error():
    config = ClusterConfig(num_workers=3, cpus_per_worker=4, wait_for_resources_s=100)
    cluster = _GrowingCluster(every_s=60, max_cpus=8)
    problem = _wait(config, cluster, [])
    assert cluster.now_s == 100
    assert problem.startswith("after waiting 100 s (cluster.wait_for_resources_s)")
    assert "has 8 CPUs" in problem and "--num-workers" in problem
    assert cluster.requests[-1] == []


def test_without_the_option_the_refusal_is_immediate():
    cluster = _GrowingCluster(every_s=60, max_cpus=64)
    problem = _wait(ClusterConfig(num_workers=3, cpus_per_worker=4), cluster, [])
    assert cluster.now_s == 0 and cluster.requests == [] and "has 4 CPUs" in problem


def test_the_option_is_in_help_and_in_the_config():
    from mmssl.train.recipe_cli import build_parser

    assert "--wait-for-resources-s" in build_parser("mmssl.recipes.simclr", "x").format_help()
    with pytest.raises(ValueError, match="wait_for_resources_s"):
        ClusterConfig(wait_for_resources_s=-1)
