"""Held-out kNN while a run trains (`--set train.knn_every_epochs=N --set train.knn_data=DIR`).

Rank 0 scores the current network every N epochs: held-out samples of the labelled data vote among
its training samples (weighted kNN, k 20), features from the same evaluation views as the kNN
recipe. The other ranks go on; they wait for rank 0 at the next gradient all-reduce. The result is
reported as the metric `knn_top1` (metrics.jsonl, TensorBoard) and printed.
"""

from __future__ import annotations

import torch

from mmssl.eval.knn import knn_accuracy
from mmssl.eval.labelled_data import held_out_split, read_labelled
from mmssl.eval.layer_features import POOLED, FeatureSource, image_pooled, video_pooled
from mmssl.pipelines.each_sample_once import each_sample_once
from mmssl.train.config import RunSpec

IMAGE_FAMILIES = ("image", "pirl", "pirl_rotation", "jigsaw", "rotation", "jigsaw_rotation", "views", "center_crop")


def prepared_knn_data(knn_data: str, cache_dir: str) -> str:
    """On the driver, before workers start: a class-folder tree is prepared once, so every worker reads shards."""
    from mmssl.eval.labelled_data import labelled_dataset

    return str(labelled_dataset(knn_data, cache_dir).data_dir)


def feature_source(spec: RunSpec, method) -> FeatureSource:
    from mmssl.eval.knn_report import eval_clip_options

    options = spec.pipeline_options
    if spec.pipeline in IMAGE_FAMILIES:
        return image_pooled(method, int(options.get("image_size", options.get("tile_crop_px", 224))))
    return video_pooled(method, eval_clip_options(options))


def held_out_knn_top1(spec: RunSpec, method, k: int = 20) -> float:
    """kNN top-1 of the labelled data's held-out split (its own, or 20% per class) among the rest."""
    labelled = read_labelled(spec.train.knn_data)
    held_out = labelled.held_out if labelled.held_out is not None else held_out_split(labelled.labels)
    source = feature_source(spec, method)
    features, indices = [], []
    for batch in each_sample_once(source.pipeline, labelled.data_dir, batch_size=64, options=source.options):
        features.append(source.features(batch[source.input_key])[POOLED])
        indices.append(batch["index"])
    features, index = torch.cat(features), torch.cat(indices)
    labels, asked = labelled.labels[index], held_out[index]
    reference, query = (labels >= 0) & ~asked, (labels >= 0) & asked
    return knn_accuracy(features[reference], labels[reference], features[query], labels[query], k=k)
