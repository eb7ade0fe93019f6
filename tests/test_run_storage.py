"""Run storage on a store: run files staged locally and uploaded, brought back on resume elsewhere (checkpoints
left to Ray), and evaluation's local copy holding the latest complete checkpoint only."""

import json

import pyarrow.fs as pafs

from fixtures_store import BUCKET
from mmssl.cluster.run_storage import RunStorage, local_run_copy


def test_local_storage_is_the_run_directory_itself(tmp_path):
    run = RunStorage.of(str(tmp_path / "runs"), "r1")
    assert not run.remote and run.staging == (tmp_path / "runs" / "r1").resolve()
    assert run.ray_storage() == (str((tmp_path / "runs").resolve()), None)
    run.write_text("fault-injected", "x")
    assert run.exists("fault-injected") and (tmp_path / "runs" / "r1" / "fault-injected").read_text() == "x"


def test_run_files_go_up_and_come_back_on_another_machine(local_s3, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "driver-a"))
    storage_path = local_s3.uri(f"{BUCKET}/runs")
    run = RunStorage.of(storage_path, "r2")
    assert run.remote and run.display == f"s3://{BUCKET}/runs/r2"
    assert run.ray_storage() == (f"{BUCKET}/runs", run.location.filesystem)
    run.open()
    (run.staging / "metrics.jsonl").write_text('{"step": 1}\n')
    (run.staging / "tensorboard").mkdir()
    (run.staging / "tensorboard" / "events.1").write_bytes(b"\x00\x01")
    run.upload()
    store = local_s3.filesystem()
    with store.open_output_stream(f"{BUCKET}/runs/r2/checkpoint_000/trainer_state.pt") as out:
        out.write(b"weights")  # Ray's part: not a run file
    monkeypatch.setenv("HOME", str(tmp_path / "driver-b"))
    elsewhere = RunStorage.of(storage_path, "r2")
    assert elsewhere.staging != run.staging
    elsewhere.open()
    files = sorted(p.relative_to(elsewhere.staging).as_posix() for p in elsewhere.staging.rglob("*") if p.is_file())
    assert files == ["metrics.jsonl", "tensorboard/events.1"]
    assert (elsewhere.staging / "tensorboard" / "events.1").read_bytes() == b"\x00\x01"


def test_evaluation_copies_the_latest_complete_checkpoint(local_s3, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    store, root = local_s3.filesystem(), f"{BUCKET}/runs/r3"

    def put(relative: str, payload: bytes) -> None:
        with store.open_output_stream(f"{root}/{relative}") as out:
            out.write(payload)

    put("run_spec.json", b"{}")
    for name, step, complete in (("checkpoint_a", 2, True), ("checkpoint_b", 6, True), ("checkpoint_c", 8, False)):
        put(f"{name}/rank-0000/loader.json", json.dumps({"step": step}).encode())
        if complete:
            put(f"{name}/trainer_state.pt", f"state {step}".encode())
    copy = local_run_copy(local_s3.uri(root))
    assert copy.name == "r3" and (copy / "run_spec.json").read_text() == "{}"
    assert sorted(p.name for p in copy.glob("checkpoint_*")) == ["checkpoint_b"]  # step 8 lacks its trainer state
    assert (copy / "checkpoint_b" / "trainer_state.pt").read_bytes() == b"state 6"
    assert store.get_file_info(f"{root}/checkpoint_b").type == pafs.FileType.Directory
