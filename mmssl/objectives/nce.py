"""Contrastive losses of a query against a positive key and a shared set of negative keys.

Similarities are cosine (inputs are normalized here) divided by the temperature. Negatives are one
set [N, d] shared by the whole batch, as drawn from a memory bank or a MoCo queue.

- `info_nce_loss`: softmax cross-entropy over (positive, N negatives).
- `nce_loss`: the noise-contrastive form of Wu et al. 2018 (NPID), used by PIRL: the probability
  that a key came from the data rather than from noise, h = p / (p + N / |D|) with
  p = exp(s / tau) / Z; loss = -log h(positive) - sum over negatives of log(1 - h(negative)).
  Z is estimated once (`estimate_log_normalizer`) and then held fixed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def similarity_logits(
    query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive logits [B], negative logits [B, N]): cosine similarity / temperature, in float32 or wider."""
    dtype = torch.promote_types(query.dtype, torch.float32)
    with torch.autocast(query.device.type, enabled=False):  # the trainer's bf16 autocast stops here
        query = F.normalize(query.to(dtype), dim=1)
        positive = F.normalize(positive.to(dtype), dim=1)
        negatives = F.normalize(negatives.to(dtype), dim=1)
        return (query * positive).sum(1) / temperature, query @ negatives.T / temperature


def info_nce_loss(
    query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean over the batch of -log softmax of the positive among (positive, negatives)."""
    positive_logits, negative_logits = similarity_logits(query, positive, negatives, temperature)
    logits = torch.cat([positive_logits[:, None], negative_logits], dim=1)
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))


def nce_loss(
    query: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    temperature: float,
    log_normalizer: float,
    num_data: int,
) -> torch.Tensor:
    """Mean over the batch of the binary NCE loss with noise prior N / num_data (see module doc)."""
    positive_logits, negative_logits = similarity_logits(query, positive, negatives, temperature)
    log_noise = math.log(negatives.shape[0] / num_data)  # log(N * P_noise), P_noise = 1 / |D|
    positive_scores = positive_logits - log_normalizer
    negative_scores = negative_logits - log_normalizer
    # log h = s - log(e^s + k); log(1 - h) = log k - log(e^s + k), both without overflow
    log_h_positive = positive_scores - torch.logaddexp(positive_scores, torch.full_like(positive_scores, log_noise))
    log_not_h_negative = log_noise - torch.logaddexp(negative_scores, torch.full_like(negative_scores, log_noise))
    return -(log_h_positive + log_not_h_negative.sum(1)).mean()


@torch.no_grad()
def estimate_log_normalizer(
    query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, temperature: float, num_data: int
) -> float:
    """log Z with Z = |D| * mean of exp(s / tau) over every (query, key) pair of one batch (NPID's estimate)."""
    positive_logits, negative_logits = similarity_logits(query, positive, negatives, temperature)
    logits = torch.cat([positive_logits[:, None], negative_logits], dim=1).double()
    return float(torch.logsumexp(logits.flatten(), 0) - math.log(logits.numel()) + math.log(num_data))
