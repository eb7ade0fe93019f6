"""PIRL: the loss is lambda * NCE(m, g) + (1 - lambda) * NCE(m, f) on the bank's rows (Z per term, or
VISSL's one Z from the tile term), the bank gets the EMA of f, the tile head sees the shuffled order,
and the state survives a checkpoint."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from fixtures_learning import reference_info_nce, reference_nce, reference_normalizer
from mmssl.memory.memory_bank import ShardedMemoryBank
from mmssl.objectives.pirl import PIRL, PIRLConfig

NUM_SAMPLES = 40
SMALL = PIRLConfig(backbone="resnet18", num_negatives=64, loss_weight=0.3)


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    return {
        "image": torch.randn(4, 3, 64, 64, generator=generator),
        "tiles": torch.randn(4, 9, 3, 32, 32, generator=generator),
        "perm": torch.stack([torch.randperm(9, generator=generator) for _ in range(4)]),
        "row": torch.tensor([3, 17, 5, 39]),
    }


@pytest.mark.parametrize("loss_form, nce_normalizer", [("nce", "per_term"), ("nce", "vissl_shared"),
                                                        ("softmax", "vissl_shared")])
def test_loss_is_weighted_sum_over_bank_rows(loss_form, nce_normalizer, batch, one_thread):
    config = dataclasses.replace(SMALL, loss_form=loss_form, nce_normalizer=nce_normalizer)
    method = PIRL(config, NUM_SAMPLES, seed=7)
    with torch.no_grad():
        image_embedding, tile_embedding = method.model(batch["image"], batch["tiles"])
    twin_bank = ShardedMemoryBank(NUM_SAMPLES, 128, seed=7)  # same seed: same rows and negatives
    memory, negatives = twin_bank.lookup(batch["row"], 64)

    loss, metrics = method.training_step(method.model, batch)

    def term(query, z_query):  # float64; Z estimated from z_query's scores
        if loss_form == "softmax":
            return reference_info_nce(query, memory, negatives, 0.07)
        z = reference_normalizer(z_query, memory, negatives, 0.07, NUM_SAMPLES)
        return reference_nce(query, memory, negatives, 0.07, z, NUM_SAMPLES)

    image_z_from = tile_embedding if nce_normalizer == "vissl_shared" else image_embedding
    expected = 0.3 * term(tile_embedding, tile_embedding) + 0.7 * term(image_embedding, image_z_from)
    assert abs(loss.detach().double() - expected) / expected < 1e-5
    assert metrics["loss"] == pytest.approx(expected.item(), rel=1e-5)
    if loss_form == "nce":  # and not the other normalizer's image term
        other = term(image_embedding, image_embedding if nce_normalizer == "vissl_shared" else tile_embedding)
        assert abs(metrics["loss_image"] - other.item()) > 1e-3 * other.item()
    twin_bank.update(batch["row"], F.normalize(image_embedding, dim=1))
    assert torch.allclose(method.contrast.bank.rows, twin_bank.rows, atol=1e-6)
    loss.backward()
    assert method.model.tile_head.combine.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("nce_normalizer, estimated", [("per_term", {"tiles", "image"}), ("vissl_shared", {"all_terms"})])
def test_normalizer_fixed_after_first_step(nce_normalizer, estimated, batch, one_thread):
    method = PIRL(dataclasses.replace(SMALL, nce_normalizer=nce_normalizer), NUM_SAMPLES)
    method.training_step(method.model, batch)
    first = dict(method.contrast.log_normalizers)
    method.training_step(method.model, batch)
    assert method.contrast.log_normalizers == first and set(first) == estimated


def test_tile_embedding_depends_on_order(batch, one_thread):
    method = PIRL(SMALL, NUM_SAMPLES)
    method.model.eval()
    with torch.no_grad():
        _, in_order = method.model(batch["image"], batch["tiles"])
        _, reversed_order = method.model(batch["image"], batch["tiles"].flip(1))
    assert not torch.allclose(in_order, reversed_order, atol=1e-4)


def test_checkpoint_roundtrip(batch, one_thread):
    method = PIRL(SMALL, NUM_SAMPLES, seed=1)
    method.training_step(method.model, batch)
    restored = PIRL(SMALL, NUM_SAMPLES, seed=2)
    restored.load_checkpoint_state([method.checkpoint_state()])
    assert torch.equal(restored.contrast.bank.rows, method.contrast.bank.rows)
    assert restored.contrast.log_normalizers == method.contrast.log_normalizers
    assert restored.contrast.bank.draws == method.contrast.bank.draws


def test_features_are_pooled_backbone(batch, one_thread):
    method = PIRL(SMALL, NUM_SAMPLES)
    assert method.features(method.model, batch["image"][:2]).shape == (2, 512)


def test_bad_config_and_batch():
    with pytest.raises(ValueError, match="loss_form"):
        PIRLConfig(loss_form="triplet")
    with pytest.raises(ValueError, match="lambda"):
        PIRLConfig(loss_weight=1.5)
    with pytest.raises(ValueError, match="nce_normalizer 'vissl'.*per_term"):
        PIRLConfig(nce_normalizer="vissl")
    method = PIRL(SMALL, NUM_SAMPLES)
    with pytest.raises(KeyError, match="tiles"):
        method.training_step(method.model, {"image": torch.zeros(1, 3, 64, 64), "row": torch.tensor([0])})


def ddp_worker(rank, world_size, out_dir):
    method = PIRL(SMALL, NUM_SAMPLES, rank=rank, world_size=world_size, seed=5)
    method.model.eval()  # eval BN: embeddings do not depend on how the batch is split
    model = torch.nn.parallel.DistributedDataParallel(method.model)
    batch = _global_batch()
    local = {key: value[rank * 2 : rank * 2 + 2] for key, value in batch.items()}
    loss, _ = method.training_step(model, local)
    loss.backward()
    torch.save({"state": method.checkpoint_state(), "loss": loss.detach()}, f"{out_dir}/rank{rank}.pt")


def _global_batch():
    generator = torch.Generator().manual_seed(8)
    return {"image": torch.randn(4, 3, 32, 32, generator=generator),
            "tiles": torch.randn(4, 9, 3, 16, 16, generator=generator), "row": torch.tensor([1, 8, 30, 8])}


def test_two_ranks_under_ddp_equal_one_process(gloo_ranks, tmp_path):
    gloo_ranks(ddp_worker, 2, str(tmp_path))
    single = PIRL(SMALL, NUM_SAMPLES, seed=5)
    single.model.eval()
    batch = _global_batch()
    with torch.no_grad():
        image_embedding, _ = single.model(batch["image"], batch["tiles"])
    states = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    restored = PIRL(SMALL, NUM_SAMPLES, seed=0)
    restored.load_checkpoint_state([state["state"] for state in states])
    twin = ShardedMemoryBank(NUM_SAMPLES, 128, seed=5)
    twin.lookup(batch["row"], 64)
    twin.update(batch["row"], F.normalize(image_embedding, dim=1))  # row 8 twice: rank 1's wins
    assert torch.allclose(restored.contrast.bank.rows, twin.rows, atol=1e-5)
    single_loss, _ = single.training_step(single.model, batch)  # Z over the global batch = mean of ranks' Z
    assert torch.allclose((states[0]["loss"] + states[1]["loss"]) / 2, single_loss.detach(), rtol=1e-4)
    assert torch.allclose(single.contrast.bank.rows, twin.rows, atol=1e-5)
