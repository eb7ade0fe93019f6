"""Locations and errors: local paths and store URIs open the same way; refusals fail at once, naming the
URI and the fix; transient errors are retried with bounded, growing backoff."""

import pyarrow.fs as pafs
import pytest

from mmssl.data.manifest import read_manifest
from mmssl.data.store import RetryPolicy, StoreAccessError, check_access, is_uri, open_location, with_retries


def test_local_paths_and_file_uris_open_on_local_disk(tmp_path):
    for given in (str(tmp_path), f"file://{tmp_path}"):
        location = open_location(given)
        assert isinstance(location.filesystem, pafs.LocalFileSystem) and not location.remote
        assert location.root == str(tmp_path.resolve()) and location.path("shards", "a.tar") == f"{tmp_path}/shards/a.tar"
    assert not is_uri(f"file://{tmp_path}") and is_uri("s3://bucket/prefix") and is_uri("gs://bucket/x")


def test_s3_uri_names_bucket_and_prefix_and_refuses_unknown_options():
    location = open_location("s3://bucket/some/prefix/?endpoint_override=127.0.0.1:9&scheme=http")
    assert location.remote and location.root == "bucket/some/prefix"
    assert location.describe("manifest.parquet") == "s3://bucket/some/prefix/manifest.parquet"
    with pytest.raises(ValueError, match="endpoint"):  # the message lists the known options
        open_location("s3://bucket/prefix?endpoint=127.0.0.1:9")


def test_other_schemes_go_through_fsspec():
    location = open_location("memory://mmssl-store-test/data")
    location.filesystem.create_dir(location.root)
    with location.filesystem.open_output_stream(location.path("x.bin")) as out:
        out.write(b"0123456789")
    assert location.read_bytes("x.bin") == b"0123456789" and location.list_files() == ["x.bin"]


def test_transient_errors_are_retried_then_succeed():
    failures = [OSError("AWS Error NETWORK_CONNECTION: Empty reply from server"), OSError("HTTP status 503")]
    retried = []

    def flaky():
        if failures:
            raise failures.pop(0)
        return "bytes"

    assert with_retries(flaky, RetryPolicy(first_delay_s=0.001), on_retry=retried.append) == "bytes"
    assert [str(error) for error in retried] == ["AWS Error NETWORK_CONNECTION: Empty reply from server",
                                                "HTTP status 503"]


@pytest.mark.parametrize("error", [OSError("AWS Error ACCESS_DENIED during HeadObject"),
                                   FileNotFoundError("no such key"), PermissionError("denied")])
def test_refusals_and_missing_objects_are_not_retried(error):
    calls = []

    def refused():
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        with_retries(refused, RetryPolicy(first_delay_s=0.001))
    assert len(calls) == 1


def test_retries_stop_after_the_policy_attempts_with_the_last_error():
    calls = []

    def down():
        calls.append(1)
        raise OSError(f"timeout {len(calls)}")

    with pytest.raises(OSError, match="timeout 3"):
        with_retries(down, RetryPolicy(attempts=3, first_delay_s=0.0))
    assert len(calls) == 3


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(first_delay_s=0.1, max_delay_s=0.5)
    for retry, bound in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.5), (8, 0.5)]:
        delays = [policy.delay_s(retry) for _ in range(300)]
        assert all(0 <= d <= bound for d in delays) and max(delays) > bound / 2  # full jitter up to the bound


def test_bad_credentials_and_missing_bucket_fail_at_once_naming_the_fix(local_s3, store_square_dataset, monkeypatch):
    uri, local_dir = store_square_dataset
    check_access(open_location(uri))  # the session's credentials are accepted
    assert read_manifest(uri).equals(read_manifest(local_dir))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(StoreAccessError, match=r"s3://mmssl-test/square: the store refused access .*AWS_ACCESS_KEY_ID"):
        read_manifest(uri)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", local_s3.secret_key)
    with pytest.raises(StoreAccessError, match="bucket 'no-such-bucket' does not exist"):
        check_access(open_location(local_s3.uri("no-such-bucket/data")))
    with pytest.raises(FileNotFoundError, match="s3://mmssl-test/empty/manifest.parquet not found"):
        read_manifest(local_s3.uri("mmssl-test/empty"))


def test_an_endpoint_that_does_not_answer_fails_naming_the_endpoint_setting():
    with pytest.raises(StoreAccessError, match="does not answer .*endpoint_override"):
        check_access(open_location("s3://bucket/data?endpoint_override=127.0.0.1:9&scheme=http"))
