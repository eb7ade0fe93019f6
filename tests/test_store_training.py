"""End to end on a real S3 server, as a newcomer runs it: a recipe trains from `s3://` data with its run
storage on the store, a worker is killed and the run resumes from the store's checkpoint, then
linear_probe evaluates the stored run on labelled data in the store. No shard is ever copied locally."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pyarrow.fs as pafs
import pytest
import torch

from fixtures_store import BUCKET
from mmssl.eval.labelled_data import write_labels

pytestmark = pytest.mark.slow


def _run(args: list[str], env: dict, timeout_s: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def store_labelled_mixed(local_s3, mixed_dataset, tmp_path_factory):
    """mixed_dataset (photos, videos, sound) with labels for its photos (class = index % 2), in the store."""
    data_dir, samples = mixed_dataset
    copy = tmp_path_factory.mktemp("labelled_mixed") / "data"
    shutil.copytree(data_dir, copy)
    labels = torch.tensor([index % 2 if "jpg" in samples[index] else -1 for index in sorted(samples)])
    write_labels(copy, labels, ("even", "odd"))
    local_s3.upload(copy, f"{BUCKET}/mixed")
    return f"s3://{BUCKET}/mixed"


def _store_env(local_s3, tmp_path) -> dict:
    """A newcomer's environment: the store's endpoint in the AWS variables, a fresh HOME (its cache)."""
    return dict(os.environ, HOME=str(tmp_path), AWS_ENDPOINT_URL=f"http://{local_s3.endpoint}", AWS_REGION="us-east-1")


def _check_resumed_on_the_store(local_s3, name: str, stdout: str, data_uri: str, tmp_path) -> tuple[dict, str]:
    """The run killed at step 4 restarted from a checkpoint on the store and finished step 5 there; only the
    member table was copied locally. Returns the run's spec (read from the store) and its last checkpoint's name."""
    run_uri, store, run_root = f"s3://{BUCKET}/runs/{name}", local_s3.filesystem(), f"{BUCKET}/runs/{name}"
    assert f"last checkpoint:  {run_uri}/checkpoint_" in stdout

    def read(relative: str) -> str:
        with store.open_input_stream(f"{run_root}/{relative}") as stream:
            return stream.read().decode()

    assert read("fault-injected") == "rank 0 killed at step 4\n"
    # the restarted worker took a checkpoint from the store (Ray may not have registered the last one or two
    # reported before the kill: see ../shared/STACK.md), and the run went on from its step
    (resumed,) = [json.loads(line) for line in read("resume-rank-0000.jsonl").splitlines()]
    assert 1 <= resumed["step"] <= 3
    steps = [json.loads(line)["step"] for line in read("metrics.jsonl").splitlines()]
    assert steps[-1] == 5 and set(steps) == {1, 2, 3, 4, 5}
    spec = json.loads(read("run_spec.json"))
    assert spec["data_dir"] == data_uri
    last = stdout.split("last checkpoint:  ")[1].split()[0].rsplit("/", 1)[1]
    assert store.get_file_info(f"{run_root}/{last}/trainer_state.pt").type == pafs.FileType.File  # on the store
    # the data was read by range, never copied: this machine's store cache holds the member table only
    cached = [p.relative_to(tmp_path).as_posix() for p in (tmp_path / ".cache/mmssl/stores").rglob("*") if p.is_file()]
    assert cached and all("/members/" in path for path in cached)
    return spec, last


def test_train_resume_and_evaluate_from_the_store(local_s3, store_labelled_mixed, tmp_path, monkeypatch):
    name = f"store-{uuid.uuid4().hex[:8]}"
    env = _store_env(local_s3, tmp_path)
    trained = _run(["mmssl.recipes.pirl_yfcc", "--data", store_labelled_mixed, "--storage", f"s3://{BUCKET}/runs",
                    "--name", name, "--num-workers", "1", "--cpu", "--set", "cluster.cpus_per_worker=1",
                    "--set", "method.backbone=resnet18_narrow", "--set", "pipeline_options.image_size=32",
                    "--set", "pipeline_options.tile_crop_px=30", "--set", "pipeline_options.tile_px=8",
                    "--set", "train.loader_threads=1", "--set", "optim.warmup_steps=0", "--set", "train.max_steps=5", "--set", "train.checkpoint_every_steps=1", "--set", "train.batch_size=8",
                    "--set", "train.log_every_steps=1", "--set", "train.fail_at_step=4", "--set", "train.fail_rank=0",
                    "--set", "cluster.max_failures=1", "--set", "method.num_negatives=8"], env)
    run_uri = f"s3://{BUCKET}/runs/{name}"
    assert f"run directory:    {run_uri}" in trained.stdout
    _, last = _check_resumed_on_the_store(local_s3, name, trained.stdout, store_labelled_mixed, tmp_path)
    assert not (tmp_path / "mmssl_runs").exists()

    from mmssl.recipes import linear_probe

    for name in ("HOME", "AWS_ENDPOINT_URL", "AWS_REGION"):  # evaluation here, in this process
        monkeypatch.setenv(name, env[name])
    probe = tmp_path / "probe.json"
    assert linear_probe.main(["--checkpoint", run_uri, "--data", store_labelled_mixed, "--layers", "conv1",
                              "--epochs", "2", "--json", str(probe)]) == 0
    top1 = json.loads(probe.read_text())
    assert set(top1) == {"conv1"} and 0.0 <= top1["conv1"] <= 1.0
    copied = tmp_path / ".cache/mmssl/runs"  # the run's latest checkpoint, copied to evaluate it
    assert [p.parent.name for p in copied.rglob("trainer_state.pt")] == [last]


@pytest.mark.long  # CI's second stage: keeps the main suite under 15 minutes
def test_av_correspondence_trains_and_resumes_from_the_store(local_s3, store_labelled_mixed, tmp_path):
    """The audio-visual recipe on the same store: av_pairs reads each video's mp4 and flac by range (the
    truncated mp4 and the undecodable flac of the mixed dataset are skipped, not fatal), checkpoints go
    to the store, a killed worker resumes from one of them, and nothing but the member table is copied."""
    name = f"store-av-{uuid.uuid4().hex[:8]}"
    env = _store_env(local_s3, tmp_path)
    small = {"method.video_backbone": "r3d_18_narrow", "method.audio_backbone": "vgg_narrow",
             "method.pair_fusion": "pooled", "pipeline_options.frames": 2, "pipeline_options.frame_stride": 2,
             "pipeline_options.crop_px": 32, "pipeline_options.audio_s": 0.5, "pipeline_options.n_mels": 32,
             "pipeline_options.hard_negative_fraction": 0.0, "cluster.cpus_per_worker": 1,
             "train.loader_threads": 1, "train.batch_size": 2, "train.max_steps": 5, "train.checkpoint_every_steps": 1,
             "train.log_every_steps": 1, "train.fail_at_step": 4, "train.fail_rank": 0, "cluster.max_failures": 1,
             "optim.warmup_steps": 0}
    overrides = [word for key, value in small.items() for word in ("--set", f"{key}={value}")]
    trained = _run(["mmssl.recipes.av_correspondence", "--data", store_labelled_mixed, "--storage",
                    f"s3://{BUCKET}/runs", "--name", name, "--num-workers", "1", "--cpu", *overrides], env)
    spec, _ = _check_resumed_on_the_store(local_s3, name, trained.stdout, store_labelled_mixed, tmp_path)
    assert spec["method"] == "av_correspondence"
