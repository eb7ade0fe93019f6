"""Cosine schedule with warmup: exact values at the boundaries, the scheduler follows the formula, and a
resume continues the step with this run's global batch."""

import pytest
import torch

from mmssl.train.config import OptimConfig
from mmssl.train.schedule import build_optimizer, build_scheduler, cosine_lr_factor, lr_drop_factor, scaled_lr


def test_factor_boundaries():
    assert cosine_lr_factor(0, 100) == pytest.approx(1.0)
    assert cosine_lr_factor(50, 100) == pytest.approx(0.5)
    assert cosine_lr_factor(100, 100) == pytest.approx(0.0)
    assert cosine_lr_factor(100, 100, final_fraction=0.1) == pytest.approx(0.1)
    assert [cosine_lr_factor(s, 100, warmup_steps=4) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert cosine_lr_factor(4 + 48, 100, warmup_steps=4) == pytest.approx(0.5)


def _steps(optimizer, scheduler, count: int) -> list[float]:
    seen = []
    for _ in range(count):
        optimizer.step()
        scheduler.step()
        seen.append(optimizer.param_groups[0]["lr"])
    return seen


def test_scheduler_lr_and_restart_at_a_step():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.2)
    scheduler = build_scheduler(optimizer, 0.2, total_steps=10, warmup_steps=2, final_fraction=0.0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.2 * cosine_lr_factor(0, 10, 2))
    expected = [0.2 * cosine_lr_factor(s, 10, 2) for s in range(1, 6)]
    assert _steps(optimizer, scheduler, 5) == pytest.approx(expected)
    # rebuilt at step 5, the schedule continues the same sequence
    restarted = torch.optim.SGD([param], lr=0.2)
    later = build_scheduler(restarted, 0.2, 10, 2, 0.0, start_step=5)
    assert later.get_last_lr()[0] == pytest.approx(expected[-1])
    assert _steps(restarted, later, 2) == pytest.approx([0.2 * cosine_lr_factor(s, 10, 2) for s in (6, 7)])


def test_resume_on_fewer_workers_uses_the_new_global_batch():
    """Saved by 4 workers x 32 (lr 0.12 * 128/256), resumed on 2: the lr is that of 64 from the next step on,
    although the optimizer state loaded from the checkpoint carries the old lr."""
    optim = OptimConfig(base_lr=0.12, base_batch_size=256, warmup_steps=1)
    model = torch.nn.Linear(3, 2)
    old = build_optimizer(model.parameters(), optim, global_batch=4 * 32)
    old_scheduler = build_scheduler(old, scaled_lr(optim, 128), 20, 1, 0.0)
    model(torch.ones(1, 3)).sum().backward()
    _steps(old, old_scheduler, 6)
    saved = old.state_dict()

    new = build_optimizer(model.parameters(), optim, global_batch=2 * 32)
    new.load_state_dict(saved)  # momentum buffers, and the old run's lr
    assert new.param_groups[0]["lr"] == pytest.approx(0.06 * cosine_lr_factor(6, 20, 1))
    scheduler = build_scheduler(new, scaled_lr(optim, 64), 20, 1, 0.0, start_step=6)
    assert scaled_lr(optim, 64) == pytest.approx(0.03)
    assert new.param_groups[0]["lr"] == pytest.approx(0.03 * cosine_lr_factor(6, 20, 1))
    assert _steps(new, scheduler, 2) == pytest.approx([0.03 * cosine_lr_factor(s, 20, 1) for s in (7, 8)])
    assert torch.equal(new.state[next(model.parameters())]["momentum_buffer"],
                       saved["state"][0]["momentum_buffer"])  # only the lr changed


def test_adam_is_built_at_the_scaled_lr():
    model = torch.nn.Linear(3, 2)
    optim = OptimConfig(optimizer="adam", base_lr=1e-3, base_batch_size=32, weight_decay=1e-5)
    optimizer = build_optimizer(model.parameters(), optim, global_batch=64)
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2e-3)
    assert optimizer.param_groups[0]["weight_decay"] == 1e-5
    assert isinstance(build_optimizer(model.parameters(), OptimConfig(), 64), torch.optim.SGD)
    with pytest.raises(ValueError, match="optimizer"):
        OptimConfig(optimizer="lamb")


def test_lr_drop_multiplies_the_schedule_from_its_step_on_and_survives_a_restart():
    """A constant lr (final fraction 1) dropped to a tenth for the last quarter of 8 steps: steps 0-5 at
    0.2, 6-7 at 0.02, also when the scheduler is rebuilt at step 5 as a resume does."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.2)
    scheduler = build_scheduler(optimizer, 0.2, total_steps=8, warmup_steps=0, final_fraction=1.0,
                                drop_at=0.75, drop_factor=0.1)
    assert [optimizer.param_groups[0]["lr"]] + _steps(optimizer, scheduler, 7) == pytest.approx([0.2] * 6 + [0.02] * 2)
    restarted = torch.optim.SGD([param], lr=0.2)
    later = build_scheduler(restarted, 0.2, 8, 0, 1.0, start_step=5, drop_at=0.75, drop_factor=0.1)
    assert [later.get_last_lr()[0]] + _steps(restarted, later, 2) == pytest.approx([0.2, 0.02, 0.02])
    # the factor alone: step 75 of 100 is the first dropped at drop_at 0.75; drop_at 1.0 never drops
    assert lr_drop_factor(74, 100, 0.75, 0.1) == 1.0 and lr_drop_factor(75, 100, 0.75, 0.1) == 0.1
    assert lr_drop_factor(99, 100, 1.0, 0.1) == 1.0
    with pytest.raises(ValueError, match="lr_drop_at"):
        OptimConfig(lr_drop_at=0.0)
    with pytest.raises(ValueError, match="lr_drop_factor"):
        OptimConfig(lr_drop_factor=1.5)
