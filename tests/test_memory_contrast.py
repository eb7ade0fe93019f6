"""MemoryContrast: every term uses the same lookup; Z averaged over ranks and fixed; restore."""

import math

import pytest
import torch

from mmssl.memory.memory_bank import ShardedMemoryBank
from mmssl.objectives.memory_contrast import MemoryContrast
from mmssl.objectives.nce import estimate_log_normalizer

SETTINGS = dict(temperature=0.1, memory_momentum=0.5, num_negatives=20, loss_form="nce", bank_dtype="float32", device="cpu")


def contrast_worker(rank, world_size, out_dir):
    contrast = MemoryContrast(50, 8, rank=rank, world_size=world_size, seed=2, **SETTINGS)
    query = torch.randn(3, 8, generator=torch.Generator().manual_seed(rank))
    contrast.losses(torch.tensor([rank, 10 + rank, 20 + rank]), {"a": query})
    torch.save({"log_z": contrast.log_normalizers["a"], "state": contrast.state()}, f"{out_dir}/rank{rank}.pt")


def test_normalizer_is_mean_over_ranks(gloo_ranks, tmp_path):
    gloo_ranks(contrast_worker, 2, str(tmp_path))
    bank = ShardedMemoryBank(50, 8, seed=2)
    memory, negatives = bank.lookup(torch.tensor([0, 10, 20, 1, 11, 21]), 20)
    estimates = [estimate_log_normalizer(torch.randn(3, 8, generator=torch.Generator().manual_seed(r)),
                                         memory[3 * r : 3 * r + 3], negatives, 0.1, 50) for r in range(2)]
    expected = math.log((math.exp(estimates[0]) + math.exp(estimates[1])) / 2)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert all(result["log_z"] == pytest.approx(expected, rel=1e-9) for result in results)
    restored = MemoryContrast(50, 8, rank=0, world_size=1, seed=0, **SETTINGS)
    restored.load_states([result["state"] for result in results])
    assert torch.equal(restored.bank.rows, bank.rows) and restored.log_normalizers["a"] == results[0]["log_z"]


def test_bad_loss_form():
    with pytest.raises(ValueError, match="loss_form"):
        MemoryContrast(50, 8, rank=0, world_size=1, seed=0, **{**SETTINGS, "loss_form": "hinge"})


def test_vissl_shared_estimates_one_z_from_the_first_term():
    contrast = MemoryContrast(50, 8, rank=0, world_size=1, seed=2, nce_normalizer="vissl_shared", **SETTINGS)
    generator = torch.Generator().manual_seed(3)
    first, second = torch.randn(3, 8, generator=generator), torch.randn(3, 8, generator=generator)
    rows = torch.tensor([1, 2, 3])
    contrast.losses(rows, {"first": first, "second": second})
    memory, negatives = ShardedMemoryBank(50, 8, seed=2).lookup(rows, 20)
    log_z_first, log_z_second = (estimate_log_normalizer(q, memory, negatives, 0.1, 50) for q in (first, second))
    assert contrast.log_normalizers == {"all_terms": pytest.approx(log_z_first, rel=1e-9)}
    assert abs(log_z_first - log_z_second) > 0.01  # the second term's own Z would have been another


def test_restoring_under_the_other_normalizer_is_refused():
    saved = MemoryContrast(50, 8, rank=0, world_size=1, seed=2, nce_normalizer="per_term", **SETTINGS)
    saved.losses(torch.tensor([0, 1]), {"a": torch.randn(2, 8), "b": torch.randn(2, 8)})
    restored = MemoryContrast(50, 8, rank=0, world_size=1, seed=2, nce_normalizer="vissl_shared", **SETTINGS)
    with pytest.raises(ValueError, match="resume with the one it used"):
        restored.load_states([saved.state()])
    with pytest.raises(ValueError, match="nce_normalizer 'first'"):
        MemoryContrast(50, 8, rank=0, world_size=1, seed=0, nce_normalizer="first", **SETTINGS)
