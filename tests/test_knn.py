"""Weighted kNN: matches a direct float64 implementation, and leave-one-out never votes for itself."""

import torch

from mmssl.eval.knn import knn_accuracy_leave_one_out, knn_predict


def _reference_predict(reference, labels, queries, num_classes, k, temperature, exclude_self):
    reference = torch.nn.functional.normalize(reference.double(), dim=1)
    queries = torch.nn.functional.normalize(queries.double(), dim=1)
    predictions = []
    for qi, query in enumerate(queries):
        sims = [(float(query @ ref), ri) for ri, ref in enumerate(reference) if not (exclude_self and ri == qi)]
        sims.sort(reverse=True)
        votes = [0.0] * num_classes
        for sim, ri in sims[:k]:
            votes[int(labels[ri])] += torch.exp(torch.tensor(sim / temperature, dtype=torch.float64)).item()
        predictions.append(max(range(num_classes), key=lambda c: votes[c]))
    return torch.tensor(predictions)


def test_matches_reference():
    generator = torch.Generator().manual_seed(0)
    reference = torch.randn(60, 16, generator=generator)
    labels = torch.randint(0, 5, (60,), generator=generator)
    queries = torch.randn(25, 16, generator=generator)
    for exclude_self, q in ((False, queries), (True, reference)):
        got = knn_predict(reference, labels, q, 5, k=7, temperature=0.5, exclude_self=exclude_self)
        want = _reference_predict(reference, labels, q, 5, 7, 0.5, exclude_self)
        assert torch.equal(got, want)


def test_leave_one_out_excludes_self():
    # every sample is unique in its class: with k=1 it may only find other classes
    features = torch.eye(4)
    labels = torch.arange(4)
    assert knn_accuracy_leave_one_out(features, labels, k=1) == 0.0
    clustered = torch.cat([torch.eye(4), torch.eye(4) + 0.01])
    assert knn_accuracy_leave_one_out(clustered, torch.arange(4).repeat(2), k=1) == 1.0


def test_held_out_knn_leaves_unlabelled_references_and_queries_out():
    from mmssl.eval.knn import knn_accuracy

    centres = torch.eye(3) * 10
    reference = centres.repeat_interleave(4, 0) + torch.randn(12, 3, generator=torch.Generator().manual_seed(0))
    reference_labels = torch.arange(3).repeat_interleave(4)
    # unlabelled references sit right on the queries: were they to vote (as class -1), votes would break
    queries = centres + 0.01
    unlabelled = queries.clone()
    everything = torch.cat([reference, unlabelled])
    labels = torch.cat([reference_labels, torch.full((3,), -1)])
    # an unlabelled query placed in class 0's cluster is not asked, so it cannot count as right or wrong
    asked = torch.cat([queries, centres[:1]])
    asked_labels = torch.tensor([0, 1, 2, -1])
    assert knn_accuracy(everything, labels, asked, asked_labels, k=3) == 1.0
    assert knn_accuracy(everything, labels, asked, torch.tensor([1, 2, 0, -1]), k=3) == 0.0
