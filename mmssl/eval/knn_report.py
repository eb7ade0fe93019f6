"""kNN accuracy of a trained checkpoint against the same network at initialisation, on labelled data.

Used by the embedded default and the tests as the check that learning is real: features of the
trained network must recover the generating classes better than random features do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmssl.eval.knn import knn_accuracy_leave_one_out
from mmssl.objectives import METHODS
from mmssl.pipelines.eval_center_crop import iterate_center_crops
from mmssl.train.checkpoint import read_checkpoint
from mmssl.train.config import RunSpec


@dataclass
class KnnComparison:
    trained_accuracy: float
    random_accuracy: float
    num_samples: int
    num_classes: int
    k: int

    def describe(self) -> str:
        chance = 1 / max(1, self.num_classes)
        return (
            f"kNN evaluation (k={self.k}, leave-one-out, {self.num_samples} labelled images, "
            f"{self.num_classes} classes, chance {chance:.3f}):\n"
            f"  trained features:        {self.trained_accuracy:.3f}\n"
            f"  random-init features:    {self.random_accuracy:.3f}"
        )


def dataset_features(method, data_dir: str, image_size: int, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled backbone features of every image (eval mode, center crop), with their global indices."""
    method.model.eval()
    features, indices = [], []
    with torch.no_grad():
        for images, index in iterate_center_crops(data_dir, batch_size=batch_size, image_size=image_size):
            features.append(method.features(method.model, images))
            indices.append(index)
    method.model.train()
    return torch.cat(features), torch.cat(indices)


def _fresh_method(spec: RunSpec, num_samples: int):
    """The network as the run started it: methods seed their own construction from `seed`."""
    _, method_class = METHODS[spec.method]
    return method_class(spec.method_config, num_samples=num_samples, rank=0, world_size=1, device="cpu", seed=spec.train.seed)


def compare_with_random_init(spec: RunSpec, checkpoint_dir: str, labels_by_index: torch.Tensor, k: int = 20) -> KnnComparison:
    """Leave-one-out kNN accuracy on the labelled samples (label -1 = unlabelled, left out)."""
    options = spec.pipeline_options  # evaluate at the size the network trained on
    image_size = int(options.get("image_size", options.get("tile_crop_px", 224)))
    num_samples = labels_by_index.shape[0]
    accuracies = {}
    for name in ("random", "trained"):
        method = _fresh_method(spec, num_samples)
        if name == "trained":
            method.model.load_state_dict(read_checkpoint(checkpoint_dir).trainer_state["model"])
        features, index = dataset_features(method, spec.data_dir, image_size)
        labels = labels_by_index[index]
        keep = labels >= 0
        accuracies[name] = knn_accuracy_leave_one_out(features[keep], labels[keep], k=k)
    labelled = labels_by_index[labels_by_index >= 0]
    return KnnComparison(accuracies["trained"], accuracies["random"], int(labelled.numel()),
                         int(labelled.unique().numel()), k)
