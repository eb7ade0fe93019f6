"""NCE and InfoNCE against float64 references of their formulas, and their gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from fixtures_learning import reference_info_nce, reference_nce, reference_normalizer
from mmssl.objectives.nce import estimate_log_normalizer, info_nce_loss, nce_loss


def _inputs(batch=6, negatives=50, dim=16, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64).to(dtype)
    return make(batch, dim), make(batch, dim), make(negatives, dim)


@pytest.mark.parametrize("num_data", [1000, 10**8])
def test_nce_matches_float64_reference(num_data):
    query, positive, negatives = _inputs()
    log_z = math.log(num_data) + 3.0
    loss = nce_loss(query, positive, negatives, 0.07, log_z, num_data)
    expected = reference_nce(query, positive, negatives, 0.07, math.exp(log_z), num_data)
    assert loss.dtype == torch.float32
    assert abs(loss.double() - expected) / expected < 1e-5


def test_info_nce_matches_float64_reference():
    query, positive, negatives = _inputs(seed=1)
    loss = info_nce_loss(query, positive, negatives, 0.07)
    expected = reference_info_nce(query, positive, negatives, 0.07)
    assert abs(loss.double() - expected) / expected < 1e-5


def test_log_normalizer_is_mean_exp_times_data_size():
    query, positive, negatives = _inputs(seed=2)
    log_z = estimate_log_normalizer(query, positive, negatives, 0.07, 5000)
    expected = reference_normalizer(query, positive, negatives, 0.07, 5000)
    assert math.isclose(log_z, math.log(expected.item()), rel_tol=1e-6)


def test_gradients():
    query, positive, negatives = (t.requires_grad_() for t in _inputs(3, 5, 4, torch.float64, seed=3))
    assert torch.autograd.gradcheck(lambda q, p, n: nce_loss(q, p, n, 0.5, 2.0, 100), (query, positive, negatives))
    assert torch.autograd.gradcheck(lambda q, p, n: info_nce_loss(q, p, n, 0.5), (query, positive, negatives))


def test_perfect_match_gives_low_loss():
    negatives = F.normalize(torch.randn(100, 16), dim=1)
    query = F.normalize(torch.randn(4, 16), dim=1)
    aligned = info_nce_loss(query, query, negatives, 0.07)
    opposed = info_nce_loss(query, -query, negatives, 0.07)
    assert aligned < 0.1 < opposed


def test_float32_under_bf16_autocast():
    query, positive, negatives = _inputs(seed=4)
    plain = nce_loss(query, positive, negatives, 0.07, 8.0, 1000)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = nce_loss(query, positive, negatives, 0.07, 8.0, 1000)
    assert autocast.dtype == torch.float32
    assert torch.allclose(autocast, plain, rtol=1e-6)
