"""The single-view pipeline (NPID): normalised values on known colours, every index once per epoch."""

import torch
from fixtures_pipelines import SOLID_COLOURS

from mmssl.pipelines.loader import build_loader
from mmssl.pipelines.ops import IMAGENET_MEAN, IMAGENET_STD


def test_unaugmented_view_is_the_normalised_colour(solid_dataset):
    loader = build_loader("image", solid_dataset, batch_size=4, options={"augment_image": False, "image_size": 32})
    batch = next(iter(loader))
    assert set(batch) == {"image", "index", "row"}
    assert batch["image"].shape == (4, 3, 32, 32) and batch["image"].dtype == torch.float32
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(3, 1, 1)
    for b, index in enumerate(batch["index"].tolist()):
        colour = torch.tensor(SOLID_COLOURS[index], dtype=torch.float64).view(3, 1, 1) / 255
        expected = ((colour - mean) / std).float().expand(3, 32, 32)
        assert (batch["image"][b] - expected).abs().max() < 3 / 255 / min(IMAGENET_STD)  # JPEG rounding only


def test_two_ranks_cover_the_dataset_once_per_epoch(image_dataset):
    seen = []
    for rank in (0, 1):
        loader = build_loader("image", image_dataset, batch_size=8, shard_id=rank, num_shards=2,
                              options={"image_size": 48})
        indices = torch.cat([batch["index"] for batch in loader]).tolist()
        assert len(indices) == loader.batches_per_epoch * 8
        seen.append(set(indices))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(64))
