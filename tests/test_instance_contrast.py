"""Instance contrast against a float64 reference; same-video keys are not negatives; gradients."""

import torch

from mmssl.objectives.instance_contrast import instance_contrast_loss


def reference(anchors, all_positives, offset, tau, groups=None, all_groups=None):
    a = anchors.double() / anchors.double().norm(dim=1, keepdim=True)
    k = all_positives.double() / all_positives.double().norm(dim=1, keepdim=True)
    losses = []
    for i in range(a.shape[0]):
        j = offset + i
        keys = [m for m in range(k.shape[0]) if m == j or groups is None or all_groups[m] != groups[i]]
        e = {m: torch.exp(a[i] @ k[m] / tau) for m in keys}
        losses.append(-torch.log(e[j] / sum(e.values())))
    return torch.stack(losses).mean()


def test_matches_reference_with_and_without_groups():
    anchors, keys = torch.randn(3, 8), torch.randn(7, 8)
    loss = instance_contrast_loss(anchors, keys, 2, 0.1)
    assert abs(loss.double() - reference(anchors, keys, 2, 0.1)) / loss < 1e-5
    groups, all_groups = torch.tensor([4, 5, 6]), torch.tensor([1, 2, 4, 5, 6, 4, 5])
    loss = instance_contrast_loss(anchors, keys, 2, 0.1, groups, all_groups)
    expected = reference(anchors, keys, 2, 0.1, groups, all_groups)
    assert abs(loss.double() - expected) / expected < 1e-5
    # for anchor 0 (video 4, positive at 2), key 5 is the same video: moving it must not matter
    moved = keys.clone()
    moved[5] = torch.randn(8)
    first = instance_contrast_loss(anchors[:1], keys, 2, 0.1, groups[:1], all_groups)
    assert torch.allclose(instance_contrast_loss(anchors[:1], moved, 2, 0.1, groups[:1], all_groups), first)
    assert not torch.allclose(instance_contrast_loss(anchors[:1], moved, 2, 0.1), instance_contrast_loss(anchors[:1], keys, 2, 0.1))


def test_gradients():
    anchors = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    groups, all_groups = torch.tensor([0, 1]), torch.tensor([7, 0, 1, 0, 2])
    assert torch.autograd.gradcheck(lambda a, k: instance_contrast_loss(a, k, 1, 0.3, groups, all_groups), (anchors, keys))
