"""Run storage on a store: run files staged locally and uploaded, brought back on resume elsewhere (checkpoints
left to Ray), evaluation's local copy holding the latest complete checkpoint's network only, and a
resumed rank reading its checkpoint on the store, fetching only the bank rows it keeps."""

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
        for rank in (0, 1):
            put(f"{name}/rank-{rank:04d}/memory.bank.rows.npy", b"rows")
    copy = local_run_copy(local_s3.uri(root))
    assert copy.name == "r3" and (copy / "run_spec.json").read_text() == "{}"
    assert sorted(p.name for p in copy.glob("checkpoint_*")) == ["checkpoint_b"]  # step 8 lacks its trainer state
    assert (copy / "checkpoint_b" / "trainer_state.pt").read_bytes() == b"state 6"
    copied = sorted(p.relative_to(copy / "checkpoint_b").as_posix() for p in (copy / "checkpoint_b").rglob("*") if p.is_file())
    assert copied == ["rank-0000/loader.json", "trainer_state.pt"]  # the bank rows stay on the store
    assert store.get_file_info(f"{root}/checkpoint_b").type == pafs.FileType.Directory


def test_a_resumed_rank_reads_only_the_bank_rows_it_keeps_from_the_store(local_s3, store_proxy, tmp_path):
    """Saved by 3 ranks (rows [0,1000), [1000,2000), [2000,3000)), restored as rank 0 of 2 (rows [0,1500)),
    as the worker reads a Ray checkpoint on a store: counted from the requests the server was sent."""
    import re

    import torch

    from mmssl.data.store import open_location
    from mmssl.memory.memory_bank import ShardedMemoryBank
    from mmssl.train.checkpoint import read_checkpoint, write_rank_files

    num_rows, dim, saved = 3000, 128, tmp_path / "checkpoint_000002"
    for rank in range(3):
        bank = ShardedMemoryBank(num_rows, dim, rank=rank, world_size=3)
        bank.rows.copy_(torch.arange(bank.row_start, bank.row_stop, dtype=torch.float32)[:, None].expand(-1, dim))
        write_rank_files(saved, rank, 9, 1, 3, {"bank": bank.state()}, f"loader {rank}",
                         {"model": {"w": torch.ones(2)}} if rank == 0 else None)
    local_s3.upload(saved, f"{BUCKET}/runs/r4/checkpoint_000002")
    through_proxy = open_location(local_s3.uri(f"{BUCKET}/runs/r4", endpoint=store_proxy.endpoint))

    restored = read_checkpoint(f"{through_proxy.root}/checkpoint_000002", through_proxy.filesystem)
    bank = ShardedMemoryBank(num_rows, dim, rank=0, world_size=2)
    bank.load_states([state["bank"] for state in restored.method_states])

    assert (restored.step, restored.world_size, restored.loader_checkpoints) == (9, 3, ["loader 0", "loader 1", "loader 2"])
    assert torch.equal(restored.trainer_state["model"]["w"], torch.ones(2))
    assert torch.equal(bank.rows, torch.arange(1500.0)[:, None].expand(-1, dim))
    fetched: dict[str, int] = {}
    for request in store_proxy.requests:
        if request.line.startswith("GET ") and ".rows.npy" in request.line:
            first, last = map(int, re.fullmatch(r"bytes=(\d+)-(\d+)", request.range).groups())
            name = request.line.split()[1].split("?")[0].rsplit("/", 2)[-2]
            fetched[name] = fetched.get(name, 0) + last - first + 1
    row_bytes, header_bytes = dim * 4, 4096
    assert set(fetched) == {"rank-0000", "rank-0001"}  # saved rank 2's rows are never asked for
    assert fetched["rank-0000"] <= header_bytes + 1000 * row_bytes
    assert fetched["rank-0001"] <= header_bytes + 500 * row_bytes  # half of its shard, not the file (1000 rows)
