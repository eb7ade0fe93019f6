"""Shared pytest setup: quiet Ray settings, GPU marker, and the generated-media fixtures.

Fixture modules live beside this file, one per area, and are registered here.
"""

import gc
import os

import pytest

# Ray: quiet and local (see ../shared/STACK.md), set before any test imports ray.
os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

pytest_plugins = ["fixtures_media", "fixtures_learning", "fixtures_synthetic", "fixtures_ingest", "fixtures_pipelines",
                  "fixtures_downloaders", "fixtures_store"]


def pytest_collection_modifyitems(config, items):
    """Skip tests marked `gpu` on machines without CUDA, `learning` ones unless MMSSL_LEARNING_TESTS=1 (each
    trains a recipe's whole embedded default: minutes apiece on a 2-core machine) and `long` ones unless
    MMSSL_LONG_TESTS=1, so the main suite stays under 15 minutes; `.ci/run` runs both kinds after it."""
    import torch

    opt_in = {"learning": ("MMSSL_LEARNING_TESTS", "trains a whole embedded default"),
              "long": ("MMSSL_LONG_TESTS", "a long end-to-end cluster check (CI's second stage)")}
    for marker, (variable, why) in opt_in.items():
        if os.environ.get(variable) != "1":
            skip = pytest.mark.skip(reason=f"{why}; set {variable}=1")
            for item in items:
                if marker in item.keywords:
                    item.add_marker(skip)
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="module", autouse=True)
def collect_pipelines_after_each_module():
    """Free each module's unreachable DALI pipelines (they sit in reference cycles) while the interpreter is
    whole: a pipeline whose C++ threads and Python callbacks are torn down during interpreter shutdown can
    crash the process after every test has passed."""
    yield
    gc.collect()
