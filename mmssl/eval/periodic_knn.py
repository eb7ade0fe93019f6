"""Held-out kNN while a run trains (`--set train.knn_every_epochs=N --set train.knn_data=DIR`).

Rank 0 scores the current network every N epochs: held-out samples of the labelled data vote among
its training samples (weighted kNN, k 20), features from the same evaluation views as the kNN
recipe. The other ranks go on; they wait for rank 0 at the next gradient all-reduce. The result is
reported as the metric `knn_top1` (metrics.jsonl, TensorBoard) and printed.
"""

from __future__ import annotations

from mmssl.eval.evaluated_run import evaluation_source
from mmssl.eval.knn import knn_accuracy
from mmssl.eval.knn_report import features_of_each_sample
from mmssl.eval.labelled_data import held_out_split, read_labelled
from mmssl.eval.layer_features import POOLED
from mmssl.train.config import RunSpec


def prepared_knn_data(knn_data: str, cache_dir: str) -> str:
    """On the driver, before workers start: a class-folder tree is prepared once, so every worker reads shards."""
    from mmssl.eval.labelled_data import labelled_dataset

    return str(labelled_dataset(knn_data, cache_dir).data_dir)


def held_out_knn_top1(spec: RunSpec, method, k: int = 20) -> float:
    """kNN top-1 of the labelled data's held-out split (its own, or 20% per class) among the rest."""
    labelled = read_labelled(spec.train.knn_data)
    held_out = labelled.held_out if labelled.held_out is not None else held_out_split(labelled.labels)
    source = evaluation_source(spec, method, layers=(POOLED,))
    features, index = features_of_each_sample(method, source.pipeline, labelled.data_dir, source.options,
                                              source.input_key, batch_size=64)
    labels, asked = labelled.labels[index], held_out[index]
    return knn_accuracy(features[~asked], labels[~asked], features[asked], labels[asked], k=k)
