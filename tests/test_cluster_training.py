"""Ray Train end to end on a simulated 2-node cluster: placement, learning signal, fault recovery.

One Cluster (head + a second node at 127.0.0.2) serves the module; each test uses a fresh run name.
"""

from __future__ import annotations

import json
import uuid

import pytest
import ray
import torch
from ray.cluster_utils import Cluster

from mmssl.cluster.trainer import run_training
from mmssl.data.manifest import read_manifest
from mmssl.memory.bank_files import read_all_rows
from mmssl.objectives.pirl import PIRLConfig
from mmssl.train.checkpoint import read_checkpoint
from mmssl.train.config import ClusterConfig, OptimConfig, RunSpec, TrainConfig
from mmssl.train.schedule import cosine_lr_factor
from mmssl.train.state_digest import state_digest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_node_cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1, node_ip_address="127.0.0.2")
    ray.init(address=cluster.address)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _spec(data_dir, storage, **train) -> RunSpec:
    return RunSpec(
        method="pirl",
        method_config=PIRLConfig(backbone="resnet18", num_negatives=32, loss_form="softmax"),
        pipeline="pirl",
        data_dir=str(data_dir),
        pipeline_options={"image_size": 64, "tile_crop_px": 63, "tile_px": 16},
        train=TrainConfig(**{"epochs": 50, "batch_size": 8, "log_every_steps": 1, "checkpoint_every_steps": 4,
                             "loader_threads": 1, **train}),
        optim=OptimConfig(base_lr=0.02, base_batch_size=16, warmup_steps=0),
        cluster=ClusterConfig(num_workers=2, cpus_per_worker=1, storage_path=str(storage),
                              name=f"test-{uuid.uuid4().hex[:8]}", max_failures=1),
    )


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.long  # CI's second stage: keeps the main suite under 15 minutes
def test_two_nodes_train_and_loss_decreases(two_node_cluster, image_dataset, tmp_path):
    knn_data = _labelled_copy(image_dataset, tmp_path / "knn_data")
    # 64 images, 2 ranks x 8: 4 steps an epoch, so held-out kNN runs at steps 8 and 16
    spec = _spec(image_dataset, tmp_path, max_steps=16, knn_every_epochs=2, knn_data=str(knn_data))
    summary = run_training(spec)
    placement = _jsonl(tmp_path / spec.cluster.name / "placement.jsonl")
    assert sorted(p["rank"] for p in placement) == [0, 1]
    assert sorted(p["node_rank"] for p in placement) == [0, 1]  # one worker on each node
    assert len({p["node_ip"] for p in placement}) == 2
    history = _jsonl(tmp_path / spec.cluster.name / "metrics.jsonl")
    losses = [h["loss"] for h in history]
    assert [h["step"] for h in history] == list(range(1, 17))
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    print(f"mean loss over the first 4 steps {first:.4f}, last 4 steps {last:.4f}")
    assert last < first
    assert summary.metrics["step"] == 16
    # the periodic kNN is reported when due, and is what the final network scores
    assert [h["step"] for h in history if "knn_top1" in h] == [8, 16]
    from mmssl.eval.knn_report import fresh_method
    from mmssl.eval.periodic_knn import held_out_knn_top1

    final = fresh_method(spec, 2, summary.checkpoint)
    assert held_out_knn_top1(spec, final) == history[-1]["knn_top1"]


def _labelled_copy(data_dir, target):
    """The dataset with labels.parquet: each image's class is its index mod 4."""
    import shutil

    from mmssl.eval.labelled_data import write_labels

    shutil.copytree(data_dir, target)
    count = read_manifest(target, columns=["index"]).num_rows
    write_labels(target, torch.arange(count) % 4, ("a", "b", "c", "d"))
    return target


@pytest.mark.long  # CI's second stage: keeps the main suite under 15 minutes
def test_worker_killed_resumes_from_its_checkpoint(two_node_cluster, image_dataset, tmp_path):
    spec = _spec(image_dataset, tmp_path, max_steps=10, fail_at_step=6, fail_rank=1)
    summary = run_training(spec)
    run = tmp_path / spec.cluster.name
    assert (run / "fault-injected").exists()
    assert summary.metrics["step"] == 10
    checkpoints = {read_checkpoint(p).step: p for p in run.glob("checkpoint_*") if p.is_dir()}
    for rank in (0, 1):
        resumes = _jsonl(run / f"resume-rank-{rank:04d}.jsonl")
        assert len(resumes) == 1
        resumed = resumes[0]
        assert resumed["step"] in checkpoints and resumed["step"] <= 6  # the last checkpoint before the kill
        saved = read_checkpoint(checkpoints[resumed["step"]])
        # the restarted worker holds exactly the checkpoint's weights and its memory-bank shard
        assert resumed["model_digest"] == state_digest(saved.trainer_state["model"])
        assert resumed["method_state_digest"] == state_digest(read_all_rows(saved.method_states[rank]))
    # after the restart, training continued from that step to the end without a gap
    steps = [h["step"] for h in _jsonl(run / "metrics.jsonl")]
    assert steps[-1] == 10 and set(range(1, 11)) <= set(steps)
    # ...and kept learning: the final weights and every bank shard moved on from the restored state
    final = read_checkpoint(checkpoints[10])
    restored = read_checkpoint(checkpoints[resumes[0]["step"]])
    assert state_digest(final.trainer_state["model"]) != state_digest(restored.trainer_state["model"])
    for rank in (0, 1):
        assert not torch.equal(final.method_states[rank]["memory"]["bank"]["rows"][:],
                               restored.method_states[rank]["memory"]["bank"]["rows"][:])


@pytest.mark.long  # CI's second stage: keeps the main suite under 15 minutes
def test_resume_on_fewer_workers(two_node_cluster, image_dataset, tmp_path):
    """A run saved by 2 workers continues on 1: same step, the whole memory bank, the saved weights."""
    first = _spec(image_dataset, tmp_path, max_steps=4)
    run_training(first)
    run = tmp_path / first.cluster.name
    saved = read_checkpoint(max((p for p in run.glob("checkpoint_*") if p.is_dir()), key=lambda p: read_checkpoint(p).step))
    assert (saved.step, saved.world_size) == (4, 2)

    second = _spec(image_dataset, tmp_path, max_steps=8)
    second.cluster.name, second.cluster.num_workers = first.cluster.name, 1  # same run, one worker
    second.optim.lr_drop_at = 0.75  # and a tenth of the lr for its last quarter (steps 6 and 7)
    summary = run_training(second)
    assert summary.metrics["step"] == 8
    (resumed,) = _jsonl(run / "resume-rank-0000.jsonl")
    assert resumed["step"] == 4
    assert resumed["model_digest"] == state_digest(saved.trainer_state["model"])
    # the single worker now owns every bank row: exactly the two saved shards, end to end
    from mmssl.objectives.pirl import PIRL

    merged = PIRL(first.method_config, num_samples=64)
    merged.load_checkpoint_state(saved.method_states)
    assert resumed["method_state_digest"] == state_digest(merged.checkpoint_state())
    rows = merged.checkpoint_state()["memory"]["bank"]["rows"]
    halves = [s["memory"]["bank"]["rows"][:] for s in saved.method_states]
    assert torch.equal(rows, torch.cat(halves))
    # the lr follows the global batch of each part: 2 x 8 before the resume, 1 x 8 after (base 0.02 at 16),
    # times the drop from step 6 on
    lrs = {h["step"]: h["lr"] for h in _jsonl(run / "metrics.jsonl")}
    assert lrs[3] == pytest.approx(0.02 * cosine_lr_factor(3, 4))
    expected = [0.01 * cosine_lr_factor(s, 8) * drop for s, drop in ((5, 1), (6, 0.1), (7, 0.1))]
    assert [lrs[s] for s in (5, 6, 7)] == pytest.approx(expected)


@pytest.mark.long  # CI's second stage: keeps the main suite under 15 minutes
def test_pirl_trains_on_a_dataset_mixing_photos_and_videos(two_node_cluster, mixed_dataset, tmp_path):
    """YFCC-style data: the image pipeline reads the 24 photos, the bank has a row per photo, and the
    summary says what was used and what was not (the 6 videos)."""
    data_dir, _ = mixed_dataset
    spec = _spec(data_dir, tmp_path, max_steps=4)
    summary = run_training(spec)
    assert summary.metrics["step"] == 4
    assert summary.metrics["samples_used"] == 24 and summary.metrics["modality"] == "image"
    assert summary.metrics["dataset_video_samples"] == 6 and summary.metrics["samples_skipped"] == 0
    assert "24 image used, 0 image skipped" in summary.describe() and "not used: 6 video" in summary.describe()
    banks = [state["memory"]["bank"] for state in read_checkpoint(summary.checkpoint).method_states]
    assert [bank["num_rows"] for bank in banks] == [24, 24]
    assert sum(bank["row_stop"] - bank["row_start"] for bank in banks) == 24


NARROW_AV = dict(video_backbone="r3d_18_narrow", audio_backbone="vgg_narrow")


def _av_pairs_spec(method, method_config, data_dir, storage, negative_fraction: float, optim: OptimConfig,
                   max_failures: int, **train) -> RunSpec:
    """A 2-worker run of `method` on tiny av_pairs batches (2 frames of 32 px, 0.5 s of 32 mels)."""
    return RunSpec(
        method=method, method_config=method_config, pipeline="av_pairs", data_dir=str(data_dir),
        pipeline_options={"frames": 2, "frame_stride": 2, "crop_px": 32, "audio_s": 0.5, "n_mels": 32,
                          "negative_fraction": negative_fraction},
        train=TrainConfig(**{"epochs": 50, "batch_size": 2, "log_every_steps": 1, "loader_threads": 1, **train}),
        optim=optim,
        cluster=ClusterConfig(num_workers=2, cpus_per_worker=1, storage_path=str(storage),
                              name=f"test-{uuid.uuid4().hex[:8]}", max_failures=max_failures),
    )


@pytest.fixture(scope="module")
def sounding_videos(tmp_path_factory):
    from fixtures_video import prepared_video, write_video_dataset

    return write_video_dataset(tmp_path_factory.mktemp("sounding_videos"), [
        prepared_video(36 + 6 * i, fps=24, width=96, height=64, audio_events_s=(0.4, 1.0)) for i in range(8)])


def test_video_recipe_worker_killed_resumes_with_same_step_and_banks(two_node_cluster, sounding_videos, tmp_path):
    """avid (cross-modal NCE with a video and an audio bank) on av_pairs: a worker dies at step 4; both
    ranks restart from the step-2 checkpoint with its weights and both banks, and finish at step 6."""
    from mmssl.objectives.cross_modal import CrossModalConfig

    spec = _av_pairs_spec(
        "cross_modal", CrossModalConfig(num_negatives=4, loss_form="softmax", **NARROW_AV), sounding_videos, tmp_path,
        negative_fraction=0.0, optim=OptimConfig(base_lr=0.02, base_batch_size=4, warmup_steps=0), max_failures=1,
        max_steps=6, checkpoint_every_steps=2, fail_at_step=4, fail_rank=1)
    summary = run_training(spec)
    run = tmp_path / spec.cluster.name
    assert (run / "fault-injected").exists() and summary.metrics["step"] == 6
    checkpoints = {read_checkpoint(p).step: p for p in run.glob("checkpoint_*") if p.is_dir()}
    for rank in (0, 1):
        (resumed,) = _jsonl(run / f"resume-rank-{rank:04d}.jsonl")
        assert resumed["step"] in checkpoints and resumed["step"] < 4
        saved = read_checkpoint(checkpoints[resumed["step"]])
        assert resumed["model_digest"] == state_digest(saved.trainer_state["model"])
        assert resumed["method_state_digest"] == state_digest(read_all_rows(saved.method_states[rank]))  # both banks
    steps = [h["step"] for h in _jsonl(run / "metrics.jsonl")]
    assert steps[-1] == 6 and set(range(1, 7)) <= set(steps)
    final, restored = read_checkpoint(checkpoints[6]), read_checkpoint(checkpoints[resumed["step"]])
    for rank in (0, 1):
        for bank in ("video_memory", "audio_memory"):
            assert not torch.equal(final.method_states[rank][bank]["bank"]["rows"][:],
                                   restored.method_states[rank][bank]["bank"]["rows"][:])


@pytest.mark.long  # CI's second stage: keeps the main suite under 15 minutes
def test_precise_bn_refreshes_the_last_checkpoints_statistics_on_two_ranks(two_node_cluster, sounding_videos, tmp_path):
    """av_correspondence (nce) with train.precise_bn_batches=3: every BN layer of the last checkpoint
    holds statistics of exactly 3 batches (reset, then averaged), not of the 2 training steps' running
    average; the checkpoint of step 1, before the refresh, counts 1 batch."""
    from mmssl.objectives.av_correspondence import AVCorrespondenceConfig

    spec = _av_pairs_spec(
        "av_correspondence", AVCorrespondenceConfig(form="nce", **NARROW_AV), sounding_videos, tmp_path,
        negative_fraction=0.5, optim=OptimConfig(optimizer="adam", base_lr=1e-3, base_batch_size=4, warmup_steps=0),
        max_failures=0, max_steps=2, checkpoint_every_steps=1, precise_bn_batches=3)
    summary = run_training(spec)
    loaded = [read_checkpoint(p) for p in (tmp_path / spec.cluster.name).glob("checkpoint_*") if p.is_dir()]
    checkpoints = {checkpoint.step: checkpoint for checkpoint in loaded}
    tracked = {step: {name: int(value) for name, value in checkpoint.trainer_state["model"].items()
                      if name.endswith("num_batches_tracked")} for step, checkpoint in checkpoints.items()}
    assert summary.metrics["step"] == 2 and tracked[2] and set(tracked[2].values()) == {3}
    assert set(tracked[1].values()) == {1}


def test_precise_bn_is_refused_for_a_method_without_its_forward(tmp_path):
    from mmssl.objectives.cross_modal import CrossModalConfig

    spec = RunSpec(method="cross_modal", method_config=CrossModalConfig(), pipeline="av_pairs", data_dir=str(tmp_path),
                   train=TrainConfig(precise_bn_batches=5), cluster=ClusterConfig(storage_path=str(tmp_path)))
    with pytest.raises(ValueError, match="precise_bn_batches=5: method 'cross_modal'"):
        run_training(spec)
    assert not any(tmp_path.iterdir())  # refused before any run directory is written


def test_damaged_members_are_listed_once_and_kept_out_on_every_rank(two_node_cluster, tmp_path):
    """Two epochs of av_correspondence on 2 workers over videos with one damaged FLAC and one damaged mp4
    (positives only, so every video's own sound is decoded): the run finishes, bad_samples.jsonl lists each
    once, the count is the run's (not a sum over ranks), and every rank's last checkpoint keeps both out."""
    from fixtures_damage import DAMAGED_FLAC, DAMAGED_MP4, damaged_av_dataset
    from mmssl.objectives.av_correspondence import AVCorrespondenceConfig

    data_dir = damaged_av_dataset(tmp_path / "damaged")
    spec = _av_pairs_spec(
        "av_correspondence", AVCorrespondenceConfig(form="nce", **NARROW_AV), data_dir, tmp_path,
        negative_fraction=0.0, optim=OptimConfig(optimizer="adam", base_lr=1e-3, base_batch_size=4, warmup_steps=0),
        max_failures=0, epochs=2, checkpoint_every_steps=100)
    summary = run_training(spec)
    assert summary.metrics["step"] == 6  # 12 videos, 2 ranks x 2: 3 steps an epoch
    listed = _jsonl(tmp_path / spec.cluster.name / "bad_samples.jsonl")
    assert sorted(entry["index"] for entry in listed) == sorted([DAMAGED_FLAC, DAMAGED_MP4])
    reasons = {entry["index"]: entry["reason"] for entry in listed}
    assert reasons[DAMAGED_FLAC].startswith("flac: ") and reasons[DAMAGED_MP4].startswith("mp4: video does not decode")
    assert summary.metrics["samples_skipped"] == 2 and "listed in bad_samples.jsonl" in summary.describe()
    for state in read_checkpoint(summary.checkpoint).loader_checkpoints:
        assert {entry[0] for entry in json.loads(state)["bad"]} == {DAMAGED_FLAC, DAMAGED_MP4}


@pytest.mark.long  # CI's second stage: keeps the main suite under 15 minutes
def test_an_epoch_continues_exactly_on_three_workers_then_on_one(two_node_cluster, image_dataset, tmp_path):
    """64 photos, 8 per worker and step. 2 workers train one step (positions 0-15) and stop; the run resumes
    on 3 workers for one step (16-39), then on 1 for three (40-63). The indices the ranks report cover the
    epoch exactly once, every step's ranks are disjoint, and the step and bank carry through."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    for workers, max_steps in ((2, 1), (3, 2), (1, 5)):
        spec = _spec(image_dataset, tmp_path, max_steps=max_steps, record_sample_indices=True,
                     checkpoint_every_steps=1)
        spec.cluster.name, spec.cluster.num_workers, spec.cluster.cpus_per_worker = name, workers, 0.5 if workers == 3 else 1
        summary = run_training(spec)
        assert summary.metrics["step"] == max_steps
    run = tmp_path / name
    batches = _jsonl(run / "sample_indices.jsonl")
    by_step: dict[int, list] = {}
    for batch in batches:
        by_step.setdefault(batch["step"], []).append(batch)
    assert sorted(by_step) == [1, 2, 3, 4, 5]
    assert [sorted(b["world_size"] for b in by_step[s]) for s in (1, 2, 5)] == [[2, 2], [3, 3, 3], [1]]
    read = []
    for step in sorted(by_step):
        ranks = [set(b["index"]) for b in by_step[step]]
        assert sum(map(len, ranks)) == len(set().union(*ranks))  # disjoint ranks within a step
        read += [i for b in by_step[step] for i in b["index"]]
    assert sorted(read) == list(range(64))  # the epoch, each photo once
    resumes = [r["step"] for rank in (0, 1, 2) for r in _jsonl(run / f"resume-rank-{rank:04d}.jsonl")
               if (run / f"resume-rank-{rank:04d}.jsonl").exists()]
    assert sorted(set(resumes)) == [1, 2]
    assert summary.metrics["epoch"] == 1
