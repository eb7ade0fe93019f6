"""Step metrics stay on the device: no objective's training_step returns Python floats, the meter sums
losses without reading them, and the training worker reads metrics only at log steps."""

from __future__ import annotations

import dataclasses

import pytest
import ray.train
import ray.util
import torch
from torch import nn

from mmssl.objectives import METHODS
from mmssl.train.config import ClusterConfig, OptimConfig, RunSpec, TrainConfig
from mmssl.train.host_reads import HostReads
from mmssl.train.progress import StepMeter, host_values


def _batches(tmp_path) -> dict[str, tuple[dict, dict]]:
    """Per method: (config overrides for a small network, a batch of the keys its pipeline yields)."""
    from mmssl.eval.labelled_data import write_labels

    g = torch.Generator().manual_seed(0)

    def images(*shape):
        return torch.randn(*shape, generator=g)

    rows = torch.tensor([0, 5, 9, 14])
    (tmp_path / "manifest.parquet").touch()
    labels = write_labels(tmp_path, torch.tensor([0, 1, 2, 1]), ("a", "b", "c"), file_name="pseudo.parquet")
    narrow = {"backbone": "resnet18_narrow"}
    clips = {"clip_a": images(4, 3, 4, 16, 16), "clip_b": images(4, 3, 4, 16, 16), "index": torch.tensor([0, 1, 2, 0])}
    return {
        "pirl": (narrow | {"num_negatives": 8}, {"image": images(4, 3, 16, 16), "tiles": images(4, 9, 3, 16, 16),
                                                 "row": rows}),
        "npid": (narrow | {"num_negatives": 8}, {"image": images(4, 3, 16, 16), "row": rows}),
        "jigsaw": (narrow | {"num_permutations": 24}, {"tiles": images(4, 9, 3, 16, 16), "label": torch.tensor([0, 3, 7, 23])}),
        "rotation": (narrow, {"image": images(4, 3, 16, 16), "label": torch.tensor([0, 1, 2, 3])}),
        "simclr": (narrow, {"view_0": images(4, 3, 16, 16), "view_1": images(4, 3, 16, 16)}),
        "moco": (narrow | {"queue_size": 8}, {"view_0": images(4, 3, 16, 16), "view_1": images(4, 3, 16, 16)}),
        "clusterfit": (narrow | {"pseudo_labels": str(labels), "num_clusters": 3},
                       {"image": images(4, 3, 16, 16), "index": torch.tensor([3, 0, 2, 1])}),
        "av_correspondence": ({"video_backbone": "r3d_18_narrow_time", "audio_backbone": "vgg_narrow_time",
                               "pair_fusion": "temporal", "form": "nce"},
                              {"video": images(4, 3, 4, 32, 32), "audio": images(4, 1, 32, 32),
                               "match": torch.tensor([1, 0, 1, 0]), "index": torch.arange(4),
                               "audio_index": torch.tensor([0, 9, 2, 9])}),
        "cross_modal": ({"video_backbone": "r3d_18_narrow", "audio_backbone": "vgg_narrow", "num_negatives": 8},
                        {"video": images(4, 3, 4, 32, 32), "audio": images(4, 1, 32, 32), "row": rows}),
        "temporal": ({"backbone": "r3d_18_narrow"}, clips),
        "tracking": (narrow, {"patch_a": images(4, 3, 16, 16), "patch_b": images(4, 3, 16, 16),
                              "index": torch.tensor([0, 1, 2, 0]), "tracked": torch.tensor([1, 1, 0, 1])}),
        "frame_order": (narrow, {"frames": images(4, 3, 3, 16, 16), "label": torch.tensor([1, 0, 0, 1])}),
    }


def test_every_method_is_covered(tmp_path):
    assert set(_batches(tmp_path)) == set(METHODS)


AV_FORMS = {"binary": {"form": "binary", "pair_fusion": "pooled", "video_backbone": "r3d_18_narrow",
                        "audio_backbone": "vgg_narrow"},
            "contrastive": {"form": "contrastive", "pair_fusion": "pooled", "video_backbone": "r3d_18_narrow",
                            "audio_backbone": "vgg_narrow"}}


@pytest.mark.parametrize("name", sorted(METHODS) + [f"av_correspondence:{form}" for form in AV_FORMS])
def test_training_step_returns_metrics_as_device_tensors(name, tmp_path, one_thread):
    name, _, form = name.partition(":")
    overrides, batch = _batches(tmp_path)[name]
    config_class, method_class = METHODS[name]
    method = method_class(config_class(**(overrides | AV_FORMS.get(form, {}))), num_samples=16)
    loss, metrics = method.training_step(method.model, batch)
    assert metrics, name
    for key, value in metrics.items():
        assert isinstance(value, torch.Tensor) and not isinstance(value, float), (name, key, type(value))
        assert value.numel() == 1 and not value.requires_grad and value.device == loss.device, (name, key)
    assert torch.equal(metrics["loss"], loss.detach())  # the logged loss is the step's loss


def test_meter_sums_losses_without_reading_them_and_reads_once_at_summary():
    meter = StepMeter(world_size=2, batch_size=8)
    losses = [torch.tensor(v) for v in (1.5, 0.25, 2.0)]
    with HostReads() as reads:
        for loss in losses:
            meter.loader_done()
            meter.step_done(loss)
    assert reads.count == 0
    with HostReads() as reads:
        summary = meter.summary()
    assert reads.count == 1 and summary["loss"] == pytest.approx((1.5 + 0.25 + 2.0) / 3)
    assert summary["samples_per_s"] > 0 and 0 <= summary["loader_wait_fraction"] <= 1


def test_host_values_reads_every_metric_with_one_copy_per_device():
    metrics = {"loss": torch.tensor(0.75), "accuracy": torch.tensor(0.5), "count": 3}
    with HostReads() as reads:
        values = host_values(metrics)
    assert values == {"loss": 0.75, "accuracy": 0.5, "count": 3.0} and list(values) == list(metrics)
    assert [name for name, _ in reads.calls] == ["tolist"]


@dataclasses.dataclass
class CountingConfig:
    size: int = 3


class CountingMethod(nn.Module):
    """A linear model on the `image` pipeline's views; counts its steps so reads can be placed in time."""

    steps = 0

    def __init__(self, config, num_samples, rank=0, world_size=1, device="cpu", seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.model = nn.Linear(config.size, 1)

    def training_step(self, model, batch):
        CountingMethod.steps += 1
        loss = model(batch["image"].mean(dim=(2, 3))).square().mean()
        return loss, {"loss": loss.detach(), "mean_pixel": batch["image"].mean()}

    def checkpoint_state(self):
        return {}

    def load_checkpoint_state(self, states):
        pass


class Context:
    def get_world_rank(self):
        return 0

    def get_local_rank(self):
        return 0

    def get_world_size(self):
        return 1

    def get_node_rank(self):
        return 0


def test_worker_reads_metrics_only_at_log_steps(image_dataset, tmp_path, monkeypatch, one_thread):
    from mmssl.train import worker

    reports = []
    monkeypatch.setattr(ray.train, "get_context", Context)
    monkeypatch.setattr(ray.train, "get_checkpoint", lambda: None)
    monkeypatch.setattr(ray.train, "report", lambda metrics, checkpoint=None: reports.append((metrics, checkpoint)))
    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda: "127.0.0.1")
    monkeypatch.setitem(METHODS, "counting", (CountingConfig, CountingMethod))
    CountingMethod.steps = 0
    spec = RunSpec(method="counting", method_config=CountingConfig(), pipeline="image", data_dir=str(image_dataset),
                   pipeline_options={"image_size": 8},
                   train=TrainConfig(epochs=2, max_steps=9, batch_size=8, log_every_steps=3, checkpoint_every_steps=9,
                                     loader_threads=1, torch_threads=1),
                   optim=OptimConfig(base_lr=0.1, base_batch_size=8),
                   cluster=ClusterConfig(storage_path=str(tmp_path), name="reads"))
    with HostReads(when=lambda: CountingMethod.steps) as reads:
        worker.train_worker({"spec": spec})
    read_at = {step for _, step in reads.calls}
    assert CountingMethod.steps == 9 and read_at <= {3, 6, 9}, sorted(read_at)
    assert {3, 6, 9} <= read_at  # every log step read its metrics
    assert [metrics["step"] for metrics, _ in reports] == [3, 6, 9]
    for metrics, _ in reports:
        assert isinstance(metrics["mean_pixel"], float) and isinstance(metrics["loss"], float)
