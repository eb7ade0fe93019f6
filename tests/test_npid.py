"""NPID: one NCE term of f(v_I) against the bank, then the EMA update of row I."""

import torch
import torch.nn.functional as F

from mmssl.memory.memory_bank import ShardedMemoryBank
from mmssl.objectives.nce import estimate_log_normalizer, nce_loss
from mmssl.objectives.npid import NPID, NPIDConfig


def test_step_matches_formula_and_updates_bank(one_thread):
    config = NPIDConfig(backbone="resnet18", num_negatives=32)
    method = NPID(config, num_samples=30, seed=4)
    batch = {"image": torch.randn(3, 3, 32, 32), "row": torch.tensor([0, 29, 11])}
    with torch.no_grad():
        embedding = method.model(batch["image"])
    twin = ShardedMemoryBank(30, 128, seed=4)
    memory, negatives = twin.lookup(batch["row"], 32)
    loss, _ = method.training_step(method.model, batch)
    log_z = estimate_log_normalizer(embedding, memory, negatives, 0.07, 30)
    assert torch.allclose(loss.detach(), nce_loss(embedding, memory, negatives, 0.07, log_z, 30), rtol=1e-5)
    expected_rows = F.normalize(0.5 * memory + 0.5 * F.normalize(embedding, dim=1), dim=1)
    assert torch.allclose(method.contrast.bank.rows[batch["row"]], expected_rows, atol=1e-6)
