"""Does the Ray cluster have what a run asks for? Checked before training starts, so an impossible
request fails within seconds, naming the fix, instead of waiting forever for resources.

An autoscaling cluster grows when asked: with `cluster.wait_for_resources_s` > 0 the check asks the
autoscaler for the workers' resources and waits for them up to that bound, then fails the same way."""

from __future__ import annotations

import time
from typing import Callable

from mmssl.train.config import ClusterConfig

POLL_S = 5.0  # how often a waiting run looks at the cluster again


def missing_resources(cluster: ClusterConfig, available: dict[str, float]) -> str | None:
    """Why `available` (ray.cluster_resources()) cannot host the run's workers, or None if it can."""
    cpus_needed = cluster.num_workers * cluster.cpus_per_worker
    gpus_needed = cluster.num_workers if cluster.use_gpu else 0
    cpus, gpus = available.get("CPU", 0.0), available.get("GPU", 0.0)
    asked = f"{cluster.num_workers} worker(s) x {cluster.cpus_per_worker:g} CPU(s) = {cpus_needed:g} CPUs"
    if gpus_needed:
        asked += f" and {gpus_needed} GPU(s)"
    has = f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs"
    if gpus_needed > gpus:
        fix = "run on CPU with --cpu" if gpus == 0 else f"use at most {int(gpus)} worker(s) (--num-workers)"
        return f"the run asks for {asked}, but {has}: {fix}, or join a cluster with GPUs (--address)"
    if cpus_needed > cpus:
        fits = int(cpus // cluster.cpus_per_worker)
        return (f"the run asks for {asked}, but {has}: use fewer workers (--num-workers, at most {fits} at this size) "
                f"or fewer CPUs each (--set cluster.cpus_per_worker=N), or join a bigger cluster (--address)")
    return None


def worker_bundles(cluster: ClusterConfig) -> list[dict[str, float]]:
    """The resource shape of each training worker, as the autoscaler is asked for it."""
    return [{"CPU": cluster.cpus_per_worker, **({"GPU": 1} if cluster.use_gpu else {})}] * cluster.num_workers


def wait_for_resources(
    cluster: ClusterConfig,
    available: Callable[[], dict[str, float]] | None = None,
    request: Callable[[list[dict[str, float]]], None] | None = None,
    say: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """`missing_resources` now, or, when the cluster may grow, after waiting up to `cluster.wait_for_resources_s`.

    `available` (default ray.cluster_resources) reads the cluster; `request` (default: the autoscaler's
    request_resources) asks for the workers' bundles while waiting, and for nothing after it."""
    available = available or _ray_cluster_resources
    problem = missing_resources(cluster, available())
    if problem is None or cluster.wait_for_resources_s <= 0:
        return problem
    request = request or _request_from_autoscaler
    say(f"waiting up to {cluster.wait_for_resources_s:g} s for the cluster to grow (cluster.wait_for_resources_s): "
        f"{problem}")
    request(worker_bundles(cluster))
    deadline = clock() + cluster.wait_for_resources_s
    try:
        while problem is not None and clock() < deadline:
            sleep(min(POLL_S, max(0.0, deadline - clock())))
            problem = missing_resources(cluster, available())
    finally:
        request([])  # the trainer's own placement group holds the workers' demand from here on
    if problem is None:
        say("the cluster has the resources: starting")
        return None
    return f"after waiting {cluster.wait_for_resources_s:g} s (cluster.wait_for_resources_s), {problem}"


def _ray_cluster_resources() -> dict[str, float]:
    import ray

    return ray.cluster_resources()


def _request_from_autoscaler(bundles: list[dict[str, float]]) -> None:
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=bundles)
