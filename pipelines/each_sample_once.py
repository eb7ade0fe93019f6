"""Every sample of a dataset exactly once, unshuffled, through any loader family: for evaluation.

The loader pads an epoch's last batch and substitutes skipped samples with others, so a plain epoch
repeats some samples; this drops the repeats.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch


def each_sample_once(pipeline: str, data_dir: str | os.PathLike, *, batch_size: int, options: dict | None = None,
                     device: str = "cpu", num_threads: int = 2, shard_id: int = 0,
                     num_shards: int = 1) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of `pipeline` over `data_dir` in manifest order, each sample in exactly one of them.

    With `num_shards` > 1 this is rank `shard_id`'s part; the plan pads ranks to equal length, so a
    sample may also appear on another rank: whoever joins the parts drops the repeats by `index`.
    """
    from mmssl.pipelines.loader import build_loader

    loader = build_loader(pipeline, data_dir, batch_size=batch_size, device=device, num_threads=num_threads,
                          shuffle=False, options=options, shard_id=shard_id, num_shards=num_shards)
    seen: set[int] = set()
    for batch in loader:
        fresh = []
        for position, index in enumerate(batch["index"].tolist()):
            if index not in seen:
                seen.add(index)
                fresh.append(position)
        if fresh:
            keep = torch.tensor(fresh)
            yield {name: values[keep.to(values.device)] for name, values in batch.items()}
