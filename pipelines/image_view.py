"""One augmented view per image, for instance discrimination with a memory bank (NPID).

Outputs of `image_view_graph`: image [B, 3, S, S] float32 normalised (the same view as PIRL's
`image`: random resized crop, flip, colour jitter, grayscale); the loader adds index and row.
"""

from __future__ import annotations

from mmssl.pipelines import ops
from mmssl.pipelines.pirl import ViewConfig, augmented_view

IMAGE_VIEW_OUTPUTS = ("image",)


def image_view_graph(members: dict, cfg: ViewConfig, device: str):
    return (augmented_view(ops.decode(members["jpg"], device), cfg),)
