"""k-means recovers planted clusters, deterministically for a seed."""

import torch

from mmssl.eval.kmeans import kmeans


def planted_clusters(k=8, per_cluster=200, dims=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, dims, generator=generator) * 10
    truth = torch.arange(k).repeat_interleave(per_cluster)
    return centres[truth] + torch.randn(k * per_cluster, dims, generator=generator), truth


def test_recovers_planted_clusters_exactly_up_to_naming():
    features, truth = planted_clusters()
    result = kmeans(features, 8, seed=3, chunk_rows=300)  # chunks smaller than the data: the chunked path
    # each found cluster is exactly one planted cluster: the contingency table is a permutation
    table = torch.zeros(8, 8, dtype=torch.long)
    table.index_put_((truth, result.assignments), torch.ones_like(truth), accumulate=True)
    assert ((table > 0).sum(1) == 1).all() and ((table > 0).sum(0) == 1).all()
    # and the inertia is what the assignments say it is
    expected = ((features - result.centroids[result.assignments]) ** 2).sum()
    assert abs(result.inertia - float(expected)) <= 1e-3 * float(expected)


def test_pseudo_labels_are_a_function_of_features_and_seed():
    features, _ = planted_clusters(k=5, seed=1)
    features = features + torch.randn(features.shape, generator=torch.Generator().manual_seed(9)) * 8  # overlap
    first, again = kmeans(features, 12, seed=7), kmeans(features.clone(), 12, seed=7)
    other_seed = kmeans(features, 12, seed=8)
    assert torch.equal(first.assignments, again.assignments)
    assert not torch.equal(first.assignments, other_seed.assignments)


def test_more_clusters_than_distinct_points_still_assigns_every_point():
    features = torch.tensor([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    result = kmeans(features, 3, seed=0)
    assert result.assignments.shape == (10,)
    assert result.inertia == 0.0


def test_iterates_until_the_inertia_stops_falling():
    features, _ = planted_clusters(k=6, seed=2)
    features = features + torch.randn(features.shape, generator=torch.Generator().manual_seed(4)) * 6
    one = kmeans(features, 6, seed=1, iterations=1)
    converged = kmeans(features, 6, seed=1, iterations=100)
    assert converged.iterations > 1 and converged.inertia <= one.inertia
