"""Weighted k-nearest-neighbour classification on frozen features (the NPID protocol).

Each query votes over its k most cosine-similar references, weighted by exp(similarity / T);
leave-one-out uses every sample as a query against all the others. k defaults to 20 (DINO's);
NPID's lemniscate.pytorch used k = 200.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def knn_predict(
    reference: torch.Tensor,
    reference_labels: torch.Tensor,
    queries: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    exclude_self: bool = False,
) -> torch.Tensor:
    """Predicted label per query. With `exclude_self`, queries are the references (leave-one-out)."""
    if reference.shape[0] != reference_labels.shape[0]:
        raise ValueError(f"{reference.shape[0]} reference features but {reference_labels.shape[0]} labels")
    reference = F.normalize(reference.float(), dim=1)
    queries = F.normalize(queries.float(), dim=1)
    similarity = queries @ reference.T
    if exclude_self:
        similarity.fill_diagonal_(float("-inf"))
    k = min(k, reference.shape[0] - int(exclude_self))
    top_similarity, top_index = similarity.topk(k, dim=1)
    weights = (top_similarity / temperature).exp()
    votes = torch.zeros(queries.shape[0], num_classes, dtype=weights.dtype)
    votes.scatter_add_(1, reference_labels[top_index], weights)
    return votes.argmax(dim=1)


def knn_accuracy_leave_one_out(features: torch.Tensor, labels: torch.Tensor, k: int = 20, temperature: float = 0.07) -> float:
    """Fraction of samples whose label the others' kNN vote recovers."""
    num_classes = int(labels.max()) + 1
    predicted = knn_predict(features, labels, features, num_classes, k, temperature, exclude_self=True)
    return float((predicted == labels).float().mean())


def knn_accuracy(reference: torch.Tensor, reference_labels: torch.Tensor, queries: torch.Tensor,
                 query_labels: torch.Tensor, k: int = 20, temperature: float = 0.07) -> float:
    """Fraction of held-out queries whose label the references' kNN vote recovers (DINO/NPID protocol).

    Label -1 means unlabelled: such references do not vote and such queries are not asked."""
    voters, asked = reference_labels >= 0, query_labels >= 0
    reference, reference_labels = reference[voters], reference_labels[voters]
    queries, query_labels = queries[asked], query_labels[asked]
    num_classes = int(max(reference_labels.max(), query_labels.max())) + 1
    predicted = knn_predict(reference, reference_labels, queries, num_classes, k, temperature)
    return float((predicted == query_labels).float().mean())
