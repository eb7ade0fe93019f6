"""NCCL on one GPU: a one-process DDP step, and the sharded memory bank's collectives carried by NCCL.

- DDP: a small convolutional network under DistributedDataParallel takes steps beside an unwrapped
  copy; with one rank DDP's all-reduce averages over one gradient, so both must stay equal.
- The bank: its collectives skip themselves when the group has one rank (a single worker pays
  nothing for them). Here they are made to run, so NCCL carries the lookup's all-reduce and the
  update's all-gathers exactly as on a cluster; the rows and lookups must equal those of the same
  bank with the collectives skipped.
The dry run does the same on gloo and the CPU.
"""

from __future__ import annotations

import copy
import socket
import time
from unittest import mock

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mmssl.memory import collectives
from mmssl.gpu_check.training import synchronize
from mmssl.memory.memory_bank import ShardedMemoryBank

BATCH = 32


def run(recorder, sizes) -> None:
    device = torch.device("cuda", 0) if sizes.ddp_backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(sizes.ddp_backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        recorder.record(backend=sizes.ddp_backend, device=str(device), world_size=dist.get_world_size())
        recorder.record(ddp=ddp_steps(device, sizes.ddp_steps))
        recorder.record(bank=bank_collectives(device, sizes))
    finally:
        dist.destroy_process_group()


def ddp_steps(device: torch.device, steps: int) -> dict:
    """DDP's gradients and weights against an unwrapped copy after `steps` SGD steps; ms per DDP step."""
    torch.manual_seed(0)
    torch.backends.cudnn.deterministic = True  # both copies must compute the same gradients bit for bit
    plain = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(16, 10)).to(device)
    wrapped = DistributedDataParallel(copy.deepcopy(plain), device_ids=[device.index] if device.type == "cuda" else None)
    optimizers = [torch.optim.SGD(model.parameters(), lr=0.1) for model in (plain, wrapped)]
    images, labels = torch.randn(BATCH, 3, 32, 32, device=device), torch.randint(0, 10, (BATCH,), device=device)
    elapsed_s = 0.0
    for _ in range(steps):
        for model, optimizer in zip((plain, wrapped), optimizers):
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
            synchronize(device)
            if model is wrapped:
                elapsed_s += time.perf_counter() - start
    difference = max((a - b).abs().max().item() for a, b in zip(plain.parameters(), wrapped.module.parameters()))
    return {"steps": steps, "ms_per_step": 1000 * elapsed_s / steps, "max_weight_difference": difference,
            "weights_equal": difference == 0.0}


def bank_collectives(device: torch.device, sizes) -> dict:
    """The bank's lookup and update with its collectives on the process group, against the same calls
    with them skipped: equal rows and lookups, and ms per lookup + update on the group."""
    def bank() -> ShardedMemoryBank:
        return ShardedMemoryBank(sizes.bank_rows, sizes.bank_dim, device=device, seed=0)

    on_group, local = bank(), bank()
    generator = torch.Generator().manual_seed(0)
    elapsed_s, equal = 0.0, True
    for _ in range(sizes.ddp_steps):
        indices = torch.randint(0, sizes.bank_rows, (BATCH,), generator=generator).to(device)
        features = torch.randn(BATCH, sizes.bank_dim, generator=generator).to(device)
        start = time.perf_counter()
        with mock.patch.object(collectives, "is_distributed", lambda: True):
            fetched = on_group.lookup(indices, sizes.bank_negatives)
            on_group.update(indices, features)
        synchronize(device)
        elapsed_s += time.perf_counter() - start
        expected = local.lookup(indices, sizes.bank_negatives)
        local.update(indices, features)
        equal &= all(torch.equal(a, b) for a, b in zip(fetched, expected))
    equal &= torch.equal(on_group.rows, local.rows)
    return {"rows": sizes.bank_rows, "dim": sizes.bank_dim, "negatives": sizes.bank_negatives, "batch": BATCH,
            "steps": sizes.ddp_steps, "ms_per_lookup_and_update": 1000 * elapsed_s / sizes.ddp_steps,
            "equal_to_local_bank": bool(equal)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

