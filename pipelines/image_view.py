"""One augmented view per image, for instance discrimination with a memory bank (NPID).

Outputs of `image_view_pipeline`: image [B, 3, S, S] float32 normalised (the same view as PIRL's
`image`: random resized crop, flip, colour jitter, grayscale) and index [B].
"""

from __future__ import annotations

from nvidia.dali import pipeline_def

from mmssl.pipelines import ops
from mmssl.pipelines.pirl import ViewConfig, augmented_view
from mmssl.pipelines.reader import ShardSet, read_shards

IMAGE_VIEW_OUTPUTS = ("image", "index")


@pipeline_def(enable_checkpointing=True)
def image_view_pipeline(shards: ShardSet, cfg: ViewConfig, device: str, shard_id: int, num_shards: int,
                        shuffle: bool = True):
    jpegs, index = read_shards(shards, shard_id=shard_id, num_shards=num_shards, shuffle=shuffle)
    return augmented_view(ops.decode(jpegs, device), cfg), index
