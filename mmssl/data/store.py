"""Where a dataset lives: a local directory or a URI on an object store, behind one filesystem layer.

Local disk, a shared filesystem and an object store differ only in how bytes are fetched, so every
reader opens its dataset with `open_location` and reads through `pyarrow.fs`:
    /data/yfcc, file:///data/yfcc      local disk
    s3://bucket/prefix                 S3 or any store with the S3 API (SeaweedFS, MinIO, Ceph, R2...)
    gs://bucket/prefix, hdfs://...     whatever `pyarrow.fs.FileSystem.from_uri` opens
    memory://..., az://...             otherwise fsspec's filesystem for the scheme, wrapped for pyarrow
S3 credentials come the standard AWS way (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
AWS_PROFILE, instance roles). A store other than AWS is named by AWS_ENDPOINT_URL or in the URI:
`s3://bucket/prefix?endpoint_override=host:9000&scheme=http` (also `region=`, `anonymous=true`).

Errors come in two kinds. A store that cannot be used at all (no such bucket, bad credentials) raises
`StoreAccessError` at once, naming the URI and the fix: retrying cannot help. Anything else
(timeouts, 5xx answers, dropped connections) is transient: `with_retries` tries again with
exponential backoff, pyarrow's own S3 retries being turned off so that there is one policy, the same
for every filesystem, and every retry is counted.
"""

from __future__ import annotations

import functools
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar
from urllib.parse import parse_qs, urlsplit

import pyarrow.fs as pafs

T = TypeVar("T")
CONNECT_TIMEOUT_S = 5.0  # a store that does not answer a connection this fast counts as a transient failure
REQUEST_TIMEOUT_S = 30.0
S3_QUERY_OPTIONS = ("endpoint_override", "scheme", "region", "anonymous")
# what pyarrow / the AWS SDK / fsspec say when a request can never succeed (credentials, bucket, permissions)
ACCESS_MARKERS = ("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "NO_SUCH_BUCKET",
                  "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket", "HTTP status 403",
                  "HTTP status 401", "EXPIRED_TOKEN", "ExpiredToken")
CREDENTIALS_FIX = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for this store, and name a store "
                   "other than AWS with AWS_ENDPOINT_URL=http://host:port or ?endpoint_override=host:port&scheme=http "
                   "in the URI")


class StoreAccessError(RuntimeError):
    """The store cannot be used at all (missing bucket, bad credentials, no permission): fix it, do not retry."""


def is_uri(location: str | os.PathLike) -> bool:
    """True for `scheme://...` locations other than `file://` (those are local paths)."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def is_access_error(error: BaseException) -> bool:
    """Whether `error` says the store refuses us for good (credentials, bucket, permissions)."""
    return isinstance(error, PermissionError) or any(marker in str(error) for marker in ACCESS_MARKERS)


def is_transient(error: BaseException) -> bool:
    """Whether trying again may help: I/O errors that are neither a refusal nor a missing object."""
    return isinstance(error, OSError) and not isinstance(error, FileNotFoundError) and not is_access_error(error)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: try `attempts` times, waiting up to first_delay_s * 2^k."""

    attempts: int = 5
    first_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_delay_s < 0 or self.max_delay_s < self.first_delay_s:
            raise ValueError(f"retry policy {self}: attempts must be >= 1 and 0 <= first_delay_s <= max_delay_s")

    def delay_s(self, retry: int) -> float:
        return random.uniform(0, min(self.max_delay_s, self.first_delay_s * 2 ** retry))


def with_retries(call: Callable[[], T], policy: RetryPolicy, on_retry: Callable[[BaseException], None] | None = None) -> T:
    """`call()`, tried again after transient errors; the last error (or any other) propagates."""
    for retry in range(policy.attempts):
        try:
            return call()
        except OSError as error:
            if not is_transient(error) or retry == policy.attempts - 1:
                raise
            if on_retry is not None:
                on_retry(error)
            time.sleep(policy.delay_s(retry))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class StoreLocation:
    """A dataset's root on a filesystem: `uri` as the user gave it, `root` as the filesystem names it."""

    uri: str
    filesystem: pafs.FileSystem
    root: str

    @property
    def remote(self) -> bool:
        return not isinstance(self.filesystem, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        """The filesystem path of `parts` below the root, e.g. path("shards", "shard-000000.tar")."""
        return "/".join((self.root.rstrip("/"), *parts))

    def describe(self, *parts: str) -> str:
        """`parts` as the user would write them: below the URI (query left out) or the local directory."""
        base = self.uri.split("?", 1)[0].rstrip("/") if self.remote else self.root
        return "/".join((base, *parts))

    def exists(self, *parts: str) -> bool:
        return self.filesystem.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def read_bytes(self, *parts: str, policy: RetryPolicy = RetryPolicy()) -> bytes:
        """A whole (small) file below the root: manifest, table listing, index file."""
        def read() -> bytes:
            with self.filesystem.open_input_stream(self.path(*parts)) as stream:
                return stream.read()
        return with_retries(read, policy)

    def list_files(self, *parts: str) -> list[str]:
        """Names of the files directly in directory `parts` (empty when it does not exist)."""
        selector = pafs.FileSelector(self.path(*parts), allow_not_found=True)
        return sorted(info.base_name for info in self.filesystem.get_file_info(selector)
                      if info.type == pafs.FileType.File)


def open_location(location: str | os.PathLike) -> StoreLocation:
    """The filesystem and root of a local directory or store URI (see the module docstring)."""
    text = str(location)
    if not is_uri(text):
        local = text[len("file://"):] if text.startswith("file://") else text
        return StoreLocation(text, pafs.LocalFileSystem(), str(Path(local).expanduser().resolve()))
    parts = urlsplit(text)
    if parts.scheme in ("s3", "s3a"):
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - set(S3_QUERY_OPTIONS))
        if unknown:
            raise ValueError(f"{text}: unknown option(s) {unknown} in the URI; known: {list(S3_QUERY_OPTIONS)}")
        return StoreLocation(text, _s3_filesystem(parts.netloc, query), f"{parts.netloc}{parts.path}".rstrip("/"))
    try:
        filesystem, root = pafs.FileSystem.from_uri(text)
    except (ValueError, OSError) as error:  # a scheme pyarrow does not know: fsspec may
        filesystem, root = _fsspec_filesystem(text, error)
    return StoreLocation(text, filesystem, root.rstrip("/"))


def _s3_filesystem(bucket: str, query: dict[str, str]) -> pafs.S3FileSystem:
    endpoint = query.get("endpoint_override") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = query.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region is None:  # AWS itself: ask where the bucket lives; another store ignores the region
        region = "us-east-1" if endpoint else pafs.resolve_s3_region(bucket)
    return pafs.S3FileSystem(
        region=region, endpoint_override=endpoint, scheme=query.get("scheme"),
        anonymous=query.get("anonymous", "false").lower() in ("1", "true", "yes"),
        connect_timeout=CONNECT_TIMEOUT_S, request_timeout=REQUEST_TIMEOUT_S,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))  # retries are with_retries', counted


def _fsspec_filesystem(uri: str, pyarrow_error: Exception) -> tuple[pafs.FileSystem, str]:
    try:
        from fsspec.core import url_to_fs

        filesystem, root = url_to_fs(uri)
    except (ImportError, ValueError) as error:
        raise ValueError(f"{uri}: neither pyarrow ({pyarrow_error}) nor fsspec ({error}) opens this URI; use s3://, "
                         "gs://, a local path, or install the fsspec package for its scheme") from error
    return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem)), root


def check_access(location: StoreLocation) -> None:
    """Fail at once, naming the URI and the fix, when the store refuses us or the bucket is missing."""
    if not location.remote:
        return
    bucket = location.root.split("/", 1)[0]
    try:
        found = with_retries(lambda: location.filesystem.get_file_info(location.root), RetryPolicy(attempts=3))
        if found.type == pafs.FileType.NotFound and location.root != bucket:
            found = location.filesystem.get_file_info(bucket)
    except OSError as error:
        if is_access_error(error):
            raise StoreAccessError(f"{location.describe()}: the store refused access ({_first_line(error)}); "
                                   f"{CREDENTIALS_FIX}") from error
        raise StoreAccessError(f"{location.describe()}: the store does not answer ({_first_line(error)}); check the "
                               "endpoint (AWS_ENDPOINT_URL or ?endpoint_override=host:port) and that it is up") from error
    if found.type == pafs.FileType.NotFound:
        raise StoreAccessError(f"{location.describe()}: bucket {bucket!r} does not exist on this store; check the URI "
                               "(and the endpoint, AWS_ENDPOINT_URL or ?endpoint_override=host:port)")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


@functools.lru_cache(maxsize=8)
def _bucket(scheme_and_bucket: str) -> StoreLocation:
    return open_location(scheme_and_bucket)


def uri_file(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path) of one object named by a URI; the filesystem is shared by the bucket's objects."""
    parts = urlsplit(uri)
    bucket = _bucket(f"{parts.scheme}://{parts.netloc}" + (f"?{parts.query}" if parts.query else ""))
    return bucket.filesystem, f"{bucket.root}{parts.path}"


def read_uri(uri: str, max_bytes: int | None = None, head_bytes: int | None = None) -> bytes:
    """An object's bytes (its first `head_bytes` only, if given); ValueError naming the size when it is over
    `max_bytes`, FileNotFoundError when it does not exist."""
    filesystem, path = uri_file(uri)
    if max_bytes is not None:
        size = with_retries(lambda: filesystem.get_file_info(path), RetryPolicy()).size
        if size is None:
            raise FileNotFoundError(uri)
        if size > max_bytes:
            raise ValueError(f"{size} bytes (bound {max_bytes})")

    def read() -> bytes:
        with filesystem.open_input_stream(path) as stream:
            return stream.read(head_bytes) if head_bytes is not None else stream.read()
    return with_retries(read, RetryPolicy())
