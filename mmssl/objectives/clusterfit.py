"""ClusterFit (Yan et al., 2020): train a network from scratch to predict k-means pseudo-labels.

The pseudo-labels are the clusters of a first network's features over the same data, written by
`python -m mmssl.recipes.clusterfit` beside the manifest (labels.parquet format, by manifest index).
Predicting them, rather than the first network's pretext, keeps what generalises and drops what
overfits to that pretext.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmssl.models.embedding import pooled_features, unwrap
from mmssl.models.image_backbone import IMAGE_BACKBONES, ImageBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.classification import pretext_classification_loss
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network


@dataclass
class ClusterFitConfig:
    pseudo_labels: str = ""  # the labels.parquet-format file the clusterfit recipe wrote
    num_clusters: int = 16000  # the paper's best k for ImageNet-1k-sized data
    backbone: str = "resnet50"

    def __post_init__(self):
        if self.backbone not in IMAGE_BACKBONES:
            raise ValueError(f"backbone {self.backbone!r} is not one of {sorted(IMAGE_BACKBONES)}")
        if self.num_clusters < 2:
            raise ValueError(f"num_clusters={self.num_clusters}: ClusterFit needs at least 2 clusters")


class ClusterFitNetwork(nn.Module):
    def __init__(self, config: ClusterFitConfig):
        super().__init__()
        self.backbone = ImageBackbone(config.backbone)
        self.classifier = nn.Linear(self.backbone.feature_dim, config.num_clusters)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.backbone(image))


def read_pseudo_labels(path: str, num_clusters: int) -> torch.Tensor:
    """Cluster of each manifest index (-1: none); names the file and the fix when it does not fit."""
    import pyarrow.parquet as pq

    if not path:
        raise ValueError("method.pseudo_labels is empty: run python -m mmssl.recipes.clusterfit, which clusters "
                         "features and sets it")
    table = pq.read_table(path, columns=["index", "label"])
    index = torch.tensor(table["index"].to_numpy(), dtype=torch.long)
    clusters = torch.tensor(table["label"].to_numpy(), dtype=torch.long)
    if clusters.numel() and int(clusters.max()) >= num_clusters:
        raise ValueError(f"{path} has cluster {int(clusters.max())} but method.num_clusters={num_clusters}")
    labels = torch.full((int(index.max()) + 1 if index.numel() else 0,), -1, dtype=torch.long)
    labels[index] = clusters
    return labels


class ClusterFit(NetworkStateOnly, nn.Module):
    """Cross-entropy against the pseudo-label of each sample's manifest index."""

    def __init__(self, config: ClusterFitConfig, num_samples: int = 0, rank: int = 0, world_size: int = 1,
                 device="cpu", seed: int = 0):
        super().__init__()
        self.config = config
        self.pseudo_labels = read_pseudo_labels(config.pseudo_labels, config.num_clusters)
        self.model = seeded_network(seed, lambda: ClusterFitNetwork(config), device)

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        require_keys(batch, ("image", "index"), "ClusterFit")
        index = batch["index"].cpu().long()
        if int(index.max()) >= self.pseudo_labels.numel() or bool((self.pseudo_labels[index] < 0).any()):
            raise ValueError(f"{self.config.pseudo_labels} has no pseudo-label for some samples of this batch: "
                             "cluster the same dataset the run trains on")
        loss, accuracy = pretext_classification_loss(model(batch["image"]), self.pseudo_labels[index])
        return loss, {"loss": loss.detach(), "accuracy": accuracy}

    def features(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return pooled_features(unwrap(model).backbone, images)
