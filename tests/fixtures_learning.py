"""Helpers for the models / objectives / memory-bank tests: running a function on several gloo ranks, and
float64 references of the contrastive losses' formulas."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank: int, world_size: int, store_path: str, fn, args: tuple) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", store=dist.FileStore(store_path, world_size), rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def run_on_ranks(fn, world_size: int, *args) -> None:
    """Run fn(rank, world_size, *args) in `world_size` spawned processes joined by a gloo group.

    `fn` must be importable (a module-level function); it reports results by writing files.
    """
    # a forkserver that has imported torch once starts each rank in well under a second, where spawn
    # re-imports torch per process; unlike fork, it is safe after this process ran OpenMP threads
    mp.set_forkserver_preload(["torch", "torch.distributed", "torchvision", "mmssl.objectives"])
    with tempfile.TemporaryDirectory() as scratch:
        store_path = os.path.join(scratch, "store")
        mp.start_processes(
            _worker, args=(world_size, store_path, fn, args), nprocs=world_size, join=True, start_method="forkserver"
        )


@pytest.fixture(scope="session")
def gloo_ranks():
    """`run_on_ranks`, as a fixture."""
    return run_on_ranks


@pytest.fixture
def one_thread():
    """Keep CPU use modest: the machine's 2 cores are shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[len(a), len(b)] cosine similarities."""
    return (a @ b.T) / (a.norm(dim=1)[:, None] * b.norm(dim=1)[None])


def reference_nce(query, positive, negatives, tau, z, num_data):
    """The formula, literally: h = (e^{s/tau} / Z) / (e^{s/tau} / Z + N / |D|)."""
    query, positive, negatives = query.double(), positive.double(), negatives.double()
    noise = negatives.shape[0] / num_data
    p_pos = torch.exp(torch.diagonal(cosine(query, positive)) / tau) / z
    p_neg = torch.exp(cosine(query, negatives) / tau) / z
    h_pos, h_neg = p_pos / (p_pos + noise), p_neg / (p_neg + noise)
    return -(torch.log(h_pos) + torch.log(1 - h_neg).sum(1)).mean()


def reference_normalizer(query, positive, negatives, tau, num_data):
    """NPID's Z, literally: |D| times the mean of e^{s/tau} over every (query, key) score of the batch."""
    query, positive, negatives = query.double(), positive.double(), negatives.double()
    scores = torch.cat([torch.diagonal(cosine(query, positive))[:, None], cosine(query, negatives)], dim=1)
    return num_data * torch.exp(scores / tau).mean()


def reference_info_nce(query, positive, negatives, tau):
    query, positive, negatives = query.double(), positive.double(), negatives.double()
    e_pos = torch.exp(torch.diagonal(cosine(query, positive)) / tau)
    e_neg = torch.exp(cosine(query, negatives) / tau).sum(1)
    return -torch.log(e_pos / (e_pos + e_neg)).mean()
