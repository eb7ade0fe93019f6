"""Small pieces every method class shares: seeded construction, and "the network is all the state"."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def seeded_network(seed: int, build: Callable[[], nn.Module], device) -> nn.Module:
    """`build()` under `seed`, so every rank starts from the same weights, leaving the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().to(device)


class NetworkStateOnly:
    """Mixin for methods with no state besides the network, which the trainer checkpoints itself."""

    def checkpoint_state(self) -> dict:
        return {}

    def load_checkpoint_state(self, states: list[dict]) -> None:
        pass
