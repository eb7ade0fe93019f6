"""ClusterFit's objective: cross-entropy against each sample's pseudo-label, looked up by manifest index."""

import pytest
import torch
import torch.nn.functional as F

from mmssl.eval.labelled_data import write_labels
from mmssl.objectives.clusterfit import ClusterFit, ClusterFitConfig


@pytest.fixture
def pseudo_labels(tmp_path):
    labels = torch.tensor([3, 0, 2, 1, 3, 2, -1, 0])
    (tmp_path / "manifest.parquet").touch()
    return write_labels(tmp_path, labels, tuple(f"cluster_{k}" for k in range(4)), file_name="pseudo.parquet"), labels


def test_loss_is_cross_entropy_against_the_indexed_pseudo_labels_and_reaches_the_first_layer(pseudo_labels, one_thread):
    path, labels = pseudo_labels
    method = ClusterFit(ClusterFitConfig(pseudo_labels=str(path), num_clusters=4, backbone="resnet18_narrow"), seed=0)
    index = torch.tensor([5, 0, 3, 7])  # manifest order, not batch order
    images = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    loss, metrics = method.training_step(method.model, {"image": images, "index": index})
    with torch.no_grad():
        logits = method.model(images).double()
    expected = F.cross_entropy(logits, labels[index])  # float64 reference
    assert loss.item() == pytest.approx(float(expected), rel=1e-4)
    loss.backward()
    first = method.model.backbone.conv1[0].weight.grad
    assert first is not None and float(first.abs().sum()) > 0


def test_a_sample_without_pseudo_label_is_refused_by_name(pseudo_labels):
    path, _ = pseudo_labels
    method = ClusterFit(ClusterFitConfig(pseudo_labels=str(path), num_clusters=4, backbone="resnet18_narrow"), seed=0)
    with pytest.raises(ValueError, match="no pseudo-label"):
        method.training_step(method.model, {"image": torch.randn(2, 3, 16, 16), "index": torch.tensor([6, 1])})


def test_more_clusters_in_the_file_than_configured_is_refused(pseudo_labels):
    path, _ = pseudo_labels
    with pytest.raises(ValueError, match="num_clusters=3"):
        ClusterFit(ClusterFitConfig(pseudo_labels=str(path), num_clusters=3, backbone="resnet18_narrow"))
    with pytest.raises(ValueError, match="pseudo_labels is empty"):
        ClusterFit(ClusterFitConfig(num_clusters=3, backbone="resnet18_narrow"))
