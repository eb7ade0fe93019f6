"""Cosine schedule with warmup: exact values at the boundaries, and the scheduler follows the formula."""

import math

import pytest
import torch

from mmssl.train.schedule import build_scheduler, cosine_lr_factor


def test_factor_boundaries():
    assert cosine_lr_factor(0, 100) == pytest.approx(1.0)
    assert cosine_lr_factor(50, 100) == pytest.approx(0.5)
    assert cosine_lr_factor(100, 100) == pytest.approx(0.0)
    assert cosine_lr_factor(100, 100, final_fraction=0.1) == pytest.approx(0.1)
    assert [cosine_lr_factor(s, 100, warmup_steps=4) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert cosine_lr_factor(4 + 48, 100, warmup_steps=4) == pytest.approx(0.5)


def test_scheduler_lr_and_resume():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.2)
    scheduler = build_scheduler(optimizer, total_steps=10, warmup_steps=2, final_fraction=0.0)
    seen = []
    for _ in range(5):
        optimizer.step()
        scheduler.step()
        seen.append(scheduler.get_last_lr()[0])
    expected = [0.2 * cosine_lr_factor(s, 10, 2) for s in range(1, 6)]
    assert seen == pytest.approx(expected)
    # a scheduler restored from state continues the same sequence
    restored = build_scheduler(torch.optim.SGD([param], lr=0.2), 10, 2, 0.0)
    restored.load_state_dict(scheduler.state_dict())
    assert restored.get_last_lr()[0] == pytest.approx(expected[-1])
    assert not math.isnan(seen[-1])
