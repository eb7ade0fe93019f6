"""Connect to an existing Ray cluster or start a private local one; the dashboard stays on localhost."""

from __future__ import annotations

import os

import ray

QUIET_ENV = {
    "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",  # else every worker print shows twice
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def ensure_ray(address: str | None, num_cpus: int | None = None) -> bool:
    """Initialise Ray once; returns True when this call started it (so the caller may shut it down).

    `address=None` starts a local Ray with no dashboard; "auto" or "ray://..." joins a cluster.
    """
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if ray.is_initialized():
        return False
    runtime_env = {"env_vars": {k: os.environ[k] for k in QUIET_ENV}}
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, local-only cluster
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env)
    else:
        # The dashboard of a cluster we join is the cluster's own; we never open ports ourselves.
        ray.init(address=address, runtime_env=runtime_env)
    return True
