"""Linear classifiers on frozen features, one per layer, trained on one split and scored on another.

The protocol of the PIRL paper's per-layer table (VISSL's linear evaluation): features standardised
with the training split's statistics (a BatchNorm without affine parameters, frozen), one linear
layer, SGD with Nesterov momentum and weight decay, a cosine learning rate. Features stream from the
on-disk store chunk by chunk, so the probe's memory does not grow with the dataset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mmssl.eval.feature_store import FeatureStore


@dataclass(frozen=True)
class ProbeSettings:
    epochs: int = 30
    batch_size: int = 256
    lr: float = 0.05
    weight_decay: float = 5e-4
    momentum: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"probe settings out of range: {asdict(self)}")


@dataclass(frozen=True)
class LabelledRows:
    """One split: the store holding its features, the label per manifest index of that store's
    dataset (-1: unlabelled) and which indices belong to the split."""

    store: FeatureStore
    labels: torch.Tensor
    selected: torch.Tensor  # bool, by manifest index

    def of(self, layer: str, number: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(labels, float32 features) of chunk `number`'s labelled rows in this split."""
        chunk = self.store.chunk(layer, number)
        index = torch.from_numpy(chunk.index)
        rows = ((self.labels[index] >= 0) & self.selected[index]).nonzero().flatten()
        features = torch.from_numpy(np.asarray(chunk.features[rows.numpy()], dtype=np.float32))
        return self.labels[index[rows]], features

    def each(self, layer: str):
        for number in range(len(self.store.chunk_names)):
            yield self.of(layer, number)


@dataclass(frozen=True)
class LayerResult:
    layer: str
    dims: int
    train_top1: float
    held_out_top1: float
    num_train: int
    num_held_out: int


def probe_layer(layer: str, train: LabelledRows, held_out: LabelledRows, num_classes: int,
                settings: ProbeSettings = ProbeSettings()) -> LayerResult:
    """Train a linear classifier on `train`'s rows of `layer`, score it on `held_out`'s."""
    mean, std, num_train = _training_statistics(layer, train)
    if num_train == 0:
        raise ValueError(f"no labelled training samples among the extracted features of layer {layer!r}")
    generator = torch.Generator().manual_seed(settings.seed)
    classifier = torch.nn.Linear(mean.numel(), num_classes)
    torch.nn.init.zeros_(classifier.weight)
    torch.nn.init.zeros_(classifier.bias)
    optimizer = torch.optim.SGD(classifier.parameters(), lr=settings.lr, momentum=settings.momentum, nesterov=True,
                                weight_decay=settings.weight_decay)
    num_chunks = len(train.store.chunk_names)
    steps_per_epoch = -(-num_train // settings.batch_size) + num_chunks  # at most
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs * steps_per_epoch)
    for _ in range(settings.epochs):
        for number in torch.randperm(num_chunks, generator=generator).tolist():
            targets, features = train.of(layer, number)
            inputs = (features - mean) / std
            shuffled = torch.randperm(targets.numel(), generator=generator)
            for start in range(0, targets.numel(), settings.batch_size):
                batch = shuffled[start:start + settings.batch_size]
                loss = F.cross_entropy(classifier(inputs[batch]), targets[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    train_top1, _ = _accuracy(classifier, layer, train, mean, std)
    held_out_top1, num_held_out = _accuracy(classifier, layer, held_out, mean, std)
    return LayerResult(layer, int(mean.numel()), train_top1, held_out_top1, num_train, num_held_out)


def _training_statistics(layer: str, train: LabelledRows) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Mean and standard deviation per dimension over the training rows (float64 sums, one pass)."""
    dims = train.store.dims(layer)
    total, squares, count = torch.zeros(dims, dtype=torch.float64), torch.zeros(dims, dtype=torch.float64), 0
    for _, features in train.each(layer):
        values = features.double()
        total += values.sum(0)
        squares += (values ** 2).sum(0)
        count += values.shape[0]
    mean = total / max(count, 1)
    variance = (squares / max(count, 1) - mean ** 2).clamp_min(0)
    return mean.float(), (variance.sqrt() + 1e-5).float(), count


@torch.no_grad()
def _accuracy(classifier, layer: str, rows: LabelledRows, mean, std) -> tuple[float, int]:
    correct = count = 0
    for targets, features in rows.each(layer):
        correct += int((classifier((features - mean) / std).argmax(1) == targets).sum())
        count += targets.numel()
    return (correct / count if count else float("nan")), count
