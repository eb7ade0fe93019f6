"""Contrastive loss terms against a sharded memory bank: the machinery PIRL and NPID share.

Owns the bank and, for the `nce` form, the normalization constant Z, estimated on the first step
(averaged over ranks so all ranks use the same Z) and then fixed, as in NPID. With several terms
(PIRL's tiles and image), `nce_normalizer` says whose Z:

- "per_term": each term estimates its own Z from its own first-step scores.
- "vissl_shared": one Z, estimated from the first term and used for every term, as VISSL's
  NCELossWithMemory does (its NCEAverage holds a single Z, set by the first output it scores).
  The image term then differs from per_term's by log(Z_image / Z_tiles) in its scores.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mmssl.memory.collectives import all_reduce_sum_
from mmssl.memory.memory_bank import ShardedMemoryBank
from mmssl.objectives.nce import estimate_log_normalizer, info_nce_loss, nce_loss

LOSS_FORMS = ("nce", "softmax")
NCE_NORMALIZERS = ("per_term", "vissl_shared")
ALL_TERMS = "all_terms"  # the key of vissl_shared's single Z in `log_normalizers`


class MemoryContrast:
    """Loss terms of queries against their memory rows (positives) and shared bank negatives."""

    def __init__(
        self,
        num_samples: int,
        embed_dim: int,
        *,
        temperature: float,
        memory_momentum: float,
        num_negatives: int,
        loss_form: str,
        nce_normalizer: str = "per_term",
        bank_dtype: str,
        rank: int,
        world_size: int,
        device: torch.device | str,
        seed: int,
    ):
        if loss_form not in LOSS_FORMS:
            raise ValueError(f"loss_form {loss_form!r} is not one of {LOSS_FORMS}")
        if nce_normalizer not in NCE_NORMALIZERS:
            raise ValueError(f"nce_normalizer {nce_normalizer!r} is not one of {NCE_NORMALIZERS}")
        self.temperature, self.num_negatives, self.loss_form = temperature, num_negatives, loss_form
        self.nce_normalizer = nce_normalizer
        self.bank = ShardedMemoryBank(
            num_samples, embed_dim, momentum=memory_momentum, storage_dtype=bank_dtype,
            rank=rank, world_size=world_size, device=device, seed=seed,
        )
        self.log_normalizers: dict[str, float] = {}  # per term, or ALL_TERMS alone; `nce` form only

    def losses(self, indices: torch.Tensor, queries: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One loss per named query [B, d], in the dict's order (vissl_shared's Z comes from the first);
        all terms share the step's positives and negatives."""
        memory, negatives = self.bank.lookup(indices, self.num_negatives)
        losses = {}
        for name, query in queries.items():
            query = query.float()
            if self.loss_form == "softmax":
                losses[name] = info_nce_loss(query, memory, negatives, self.temperature)
                continue
            z_key = ALL_TERMS if self.nce_normalizer == "vissl_shared" else name
            if z_key not in self.log_normalizers:
                self.log_normalizers[z_key] = self._shared_log_normalizer(query, memory, negatives)
            losses[name] = nce_loss(
                query, memory, negatives, self.temperature, self.log_normalizers[z_key], self.bank.num_rows
            )
        return losses

    def update(self, indices: torch.Tensor, features: torch.Tensor) -> None:
        """EMA of the normalized `features` into the bank rows `indices` (no gradient)."""
        self.bank.update(indices, F.normalize(features.detach().float(), dim=1))

    def state(self) -> dict:
        return {"bank": self.bank.state(), "log_normalizers": dict(self.log_normalizers)}

    def load_states(self, states: list[dict]) -> None:
        """Restore from every saved rank's `state()` (any world size)."""
        saved = dict(states[0]["log_normalizers"])
        if saved and (ALL_TERMS in saved) != (self.nce_normalizer == "vissl_shared"):
            raise ValueError(f"the checkpoint's NCE normalizers {sorted(saved)} were estimated under the other "
                             f"nce_normalizer than this run's {self.nce_normalizer!r}: resume with the one it used")
        self.bank.load_states([state["bank"] for state in states])
        self.log_normalizers = saved

    def _shared_log_normalizer(self, query: torch.Tensor, memory: torch.Tensor, negatives: torch.Tensor) -> float:
        """log of the mean over ranks of each rank's Z estimate."""
        log_z = estimate_log_normalizer(query, memory, negatives, self.temperature, self.bank.num_rows)
        # subtract a common offset before exp so the sum stays finite: log Z can exceed 700 in principle
        offset = math.log(self.bank.num_rows) + 1.0 / self.temperature
        total = all_reduce_sum_(torch.tensor([math.exp(log_z - offset), 1.0], dtype=torch.float64, device=query.device))
        return float(torch.log(total[0] / total[1])) + offset
