"""k-means in torch (CPU or GPU): ClusterFit's pseudo-labels.

k-means++ seeding, then Lloyd iterations; distances are computed in row chunks so a million
features x thousands of centroids never form one giant matrix. Deterministic for given features and
seed (one seeded generator drives every random choice), so pseudo-labels can be reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class KMeansResult:
    centroids: torch.Tensor  # [k, D]
    assignments: torch.Tensor  # [N] int64
    inertia: float  # sum of squared distances to the assigned centroid
    iterations: int


def kmeans(features: torch.Tensor, k: int, *, iterations: int = 30, seed: int = 0, chunk_rows: int = 16384,
           tolerance: float = 1e-6) -> KMeansResult:
    """Cluster `features` [N, D] into `k` groups; stops early when the inertia stops improving."""
    if features.dim() != 2 or not 1 <= k <= features.shape[0]:
        raise ValueError(f"k-means needs features [N, D] with 1 <= k <= N; got {tuple(features.shape)} and k={k}")
    features = features.float()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    centroids = _plus_plus(features, k, generator, chunk_rows)
    previous = float("inf")
    for iteration in range(1, iterations + 1):
        assignments, distances = _assign(features, centroids, chunk_rows)
        inertia = float(distances.sum())
        centroids = _update(features, assignments, distances, centroids)
        if previous < float("inf") and previous - inertia <= tolerance * previous:
            break
        previous = inertia
    assignments, distances = _assign(features, centroids, chunk_rows)
    return KMeansResult(centroids, assignments, float(distances.sum()), iteration)


def _assign(features: torch.Tensor, centroids: torch.Tensor, chunk_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid of each row and the squared distance to it."""
    squared_norms = (centroids ** 2).sum(1)
    nearest, distances = [], []
    for start in range(0, features.shape[0], chunk_rows):
        rows = features[start:start + chunk_rows]
        squared = (rows ** 2).sum(1, keepdim=True) - 2 * rows @ centroids.T + squared_norms
        best, index = squared.min(1)
        nearest.append(index)
        distances.append(best.clamp_min(0))
    return torch.cat(nearest), torch.cat(distances)


def _update(features: torch.Tensor, assignments: torch.Tensor, distances: torch.Tensor,
            centroids: torch.Tensor) -> torch.Tensor:
    """Means of the members; an empty cluster takes the point farthest from its centroid (it is
    then the worst-served point, and splitting there lowers the inertia most)."""
    k = centroids.shape[0]
    sums = torch.zeros_like(centroids).index_add_(0, assignments, features)
    counts = torch.bincount(assignments, minlength=k).to(features.dtype)
    updated = sums / counts.clamp_min(1).unsqueeze(1)
    empty = (counts == 0).nonzero().flatten()
    if empty.numel():
        farthest = distances.topk(empty.numel()).indices
        updated[empty] = features[farthest]
    return updated


def _plus_plus(features: torch.Tensor, k: int, generator: torch.Generator, chunk_rows: int) -> torch.Tensor:
    """k-means++: each next centroid drawn with probability proportional to the squared distance to the
    nearest one chosen so far."""
    count = features.shape[0]
    chosen = [int(torch.randint(count, (1,), generator=generator))]
    nearest = _assign(features, features[chosen], chunk_rows)[1]
    for _ in range(1, k):
        weights = nearest.double().cpu()
        if float(weights.sum()) <= 0:  # every point already coincides with a centroid
            pick = int(torch.randint(count, (1,), generator=generator))
        else:
            pick = int(torch.multinomial(weights, 1, generator=generator))
        chosen.append(pick)
        nearest = torch.minimum(nearest, _assign(features, features[pick:pick + 1], chunk_rows)[1])
    return features[chosen].clone()
