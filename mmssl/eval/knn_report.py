"""kNN accuracy of a trained checkpoint against the same network at initialisation, on labelled data.

Used by the embedded defaults and the tests as the check that learning is real: features of the
trained network must recover the generating classes better than random features do. Images: each
held-out photo (never trained on, centre-cropped) votes among the training photos; each held-out video's
middle clip votes among the training videos' middle clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from mmssl.eval.knn import knn_accuracy
from mmssl.objectives import METHODS
from mmssl.pipelines.each_sample_once import each_sample_once
from mmssl.train.checkpoint import read_trainer_state
from mmssl.train.config import RunSpec
from mmssl.train.embedded import HeldOut


@dataclass
class KnnComparison:
    trained_accuracy: float
    random_accuracy: float
    num_classes: int
    k: int
    samples: str  # what was classified, against what, e.g. "240 held-out images against 480 training images"

    def describe(self) -> str:
        chance = 1 / max(1, self.num_classes)
        return (
            f"kNN evaluation (k={self.k}, {self.samples}, {self.num_classes} classes, chance {chance:.3f}):\n"
            f"  trained features:        {self.trained_accuracy:.3f}\n"
            f"  random-init features:    {self.random_accuracy:.3f}"
        )


def features_of_each_sample(method, pipeline: str, data_dir, options: dict, inputs: str,
                            batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`method.features` of output `inputs` of every sample of `data_dir` once, with their manifest indices."""
    features, indices = [], []
    with torch.no_grad():
        for batch in each_sample_once(pipeline, data_dir, batch_size=batch_size, options=options):
            features.append(method.features(method.model, batch[inputs]))
            indices.append(batch["index"])
    return torch.cat(features), torch.cat(indices)


def dataset_features(method, data_dir: str, image_size: int, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled backbone features of every image (eval mode, center crop), with their global indices."""
    return features_of_each_sample(method, "center_crop", data_dir, {"image_size": image_size}, "image", batch_size)


def eval_image_size(pipeline_options: dict) -> int:
    """The centre-crop size that shows a network images like those it trained on: its view size, or a
    tile-only method's crop (Jigsaw), else 224."""
    return int(pipeline_options.get("image_size", pipeline_options.get("tile_crop_px", 224)))


def eval_clip_options(pipeline_options: dict) -> dict:
    """The `clips` options that show a network clips like those it trained on: same length, rate and
    size (a tracking run's patch size as the network saw it), centre crop, the middle of the video, no augmentation."""
    size = pipeline_options.get("crop_px") or pipeline_options.get("resize_px") or pipeline_options.get("patch_px", 112)
    return {"frames": pipeline_options.get("frames", 8), "frame_stride": pipeline_options.get("frame_stride", 2),
            "crop_px": size, "augment": False}


def clip_features(method, data_dir, clip_options: dict, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features of the middle clip of every video of `data_dir`, with their manifest indices."""
    return features_of_each_sample(method, "clips", data_dir, clip_options, "video", batch_size)


def fresh_method(spec: RunSpec, num_samples: int, checkpoint_dir: str | None = None):
    """The network as the run started it (methods seed their own construction), or as `checkpoint_dir` left it."""
    _, method_class = METHODS[spec.method]
    method = method_class(spec.method_config, num_samples=num_samples, rank=0, world_size=1, device="cpu",
                          seed=spec.train.seed)
    if checkpoint_dir is not None:
        method.model.load_state_dict(read_trainer_state(checkpoint_dir)["model"])
    return method


def compare_knn(spec: RunSpec, checkpoint_dir: str, accuracy_of: Callable[[object], float], num_classes: int,
                k: int, samples: str) -> KnnComparison:
    """`accuracy_of(method)` for the trained network and for the same network at random init."""
    accuracies = {name: accuracy_of(fresh_method(spec, 2, checkpoint))
                  for name, checkpoint in (("random", None), ("trained", checkpoint_dir))}
    return KnnComparison(accuracies["trained"], accuracies["random"], num_classes, k, samples)


def compare_with_random_init(spec: RunSpec, checkpoint_dir: str, held_out: HeldOut, k: int = 20) -> KnnComparison:
    """Images: kNN accuracy of held-out photos voting among the labelled training photos."""
    image_size = eval_image_size(spec.pipeline_options)  # evaluate at the size the network trained on
    return _held_out_against_training(spec, checkpoint_dir, held_out, k, "images",
                                      lambda method, data_dir: dataset_features(method, data_dir, image_size))


def compare_clips_with_random_init(spec: RunSpec, checkpoint_dir: str, held_out: HeldOut,
                                   k: int = 10) -> KnnComparison:
    """Videos: kNN accuracy of the middle clip of each held-out video voting among the training videos'."""
    options = eval_clip_options(spec.pipeline_options)
    return _held_out_against_training(spec, checkpoint_dir, held_out, k, "videos",
                                      lambda method, data_dir: clip_features(method, data_dir, options))


def _held_out_against_training(spec: RunSpec, checkpoint_dir: str, held_out: HeldOut, k: int, what: str,
                               features_of: Callable) -> KnnComparison:
    """Held-out samples vote among the run's training samples; `features_of(method, data_dir)` gives
    (features, manifest indices) of every sample of a dataset."""

    def accuracy_of(method) -> float:
        reference, reference_index = features_of(method, spec.data_dir)
        queries, query_index = features_of(method, held_out.data_dir)
        return knn_accuracy(reference, held_out.train_labels[reference_index], queries, held_out.labels[query_index], k=k)

    references, queries = int((held_out.train_labels >= 0).sum()), int((held_out.labels >= 0).sum())
    return compare_knn(spec, checkpoint_dir, accuracy_of, _class_count(held_out.labels), k,
                       f"{queries} held-out {what} against {references} training {what}")


def _class_count(labels: torch.Tensor) -> int:
    return int(labels[labels >= 0].unique().numel())
