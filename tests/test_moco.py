"""MoCo: InfoNCE of queries against momentum keys and the queue; EMA of the encoder; FIFO queue."""

import copy

import torch
import torch.nn.functional as F

from mmssl.objectives.moco import MoCo, MoCoConfig, momentum_update_
from mmssl.objectives.nce import info_nce_loss

CONFIG = MoCoConfig(backbone="resnet18", queue_size=10, encoder_momentum=0.9)


def test_momentum_update_formula():
    key, query = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = copy.deepcopy(key)
    momentum_update_(key, query, 0.9)
    assert torch.allclose(key.weight, 0.9 * before.weight + 0.1 * query.weight)


def test_step_loss_queue_and_checkpoint(one_thread):
    method = MoCo(CONFIG, seed=3)
    batch = {"view_0": torch.randn(4, 3, 32, 32), "view_1": torch.randn(4, 3, 32, 32)}
    queue_before = method.queue.clone()
    expected_key_encoder = copy.deepcopy(method.key_encoder)
    momentum_update_(expected_key_encoder, method.model, 0.9)
    with torch.no_grad():
        queries = method.model(batch["view_0"])
        keys = F.normalize(expected_key_encoder(batch["view_1"]), dim=1)
    loss, _ = method.training_step(method.model, batch)
    assert torch.allclose(loss, info_nce_loss(queries, keys, queue_before, 0.07), rtol=1e-4)
    assert torch.allclose(method.queue[:4], keys, atol=1e-5) and torch.equal(method.queue[4:], queue_before[4:])
    method.training_step(method.model, batch)
    method.training_step(method.model, batch)  # 12 keys into 10 slots: wraps to the front
    assert method.queue_position == 2
    restored = MoCo(CONFIG, seed=9)
    restored.load_checkpoint_state([method.checkpoint_state()])
    assert torch.equal(restored.queue, method.queue) and restored.queue_position == 2
    assert torch.equal(next(restored.key_encoder.parameters()), next(method.key_encoder.parameters()))


def shuffle_worker(rank, world_size, out_dir):
    method = MoCo(CONFIG, seed=3)
    method.key_encoder.eval()  # eval BN: a key must not depend on which rank encoded it
    images = torch.randn(world_size * 3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    keys = method._keys(images[rank * 3 : rank * 3 + 3])
    torch.save(keys, f"{out_dir}/rank{rank}.pt")


def test_shuffled_keys_return_to_their_images(gloo_ranks, tmp_path):
    gloo_ranks(shuffle_worker, 2, str(tmp_path))
    method = MoCo(CONFIG, seed=3)
    method.key_encoder.eval()
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    expected = method._keys(images)
    keys = torch.cat([torch.load(tmp_path / f"rank{r}.pt") for r in range(2)])
    assert torch.allclose(keys, expected, atol=1e-5)
