"""Pretext cross-entropy: value, accuracy and the error for labels out of range."""

import math

import pytest
import torch

from mmssl.objectives.classification import pretext_classification_loss


def test_loss_and_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    loss, accuracy = pretext_classification_loss(logits, labels)
    expected = -(math.log(math.exp(2) / (math.exp(2) + 1)) + math.log(math.exp(1) / (1 + math.exp(1)))
                 + math.log(math.exp(1) / (math.exp(3) + math.exp(1)))) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert accuracy == pytest.approx(2 / 3)


def test_label_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        pretext_classification_loss(torch.zeros(2, 4), torch.tensor([1, 4]))
