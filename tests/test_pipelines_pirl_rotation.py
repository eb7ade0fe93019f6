"""PIRL with Jigsaw+Rotation: tiles are cells of the crop turned by `rotation`, in `perm` order."""

import numpy as np
from fixtures_pipelines import tile_offsets, to_pixels

from mmssl.pipelines.loader import build_loader


def test_tiles_come_from_the_rotated_crop(square_dataset, square_pixels):
    options = {"tile_crop_scale": (1.0, 1.0), "augment_tiles": False, "image_size": 32}
    loader = build_loader("pirl_rotation", square_dataset, batch_size=8, seed=3, options=options)
    rotations = []
    for batch in loader:
        assert set(batch) == {"image", "tiles", "perm", "rotation", "index", "row"}
        assert batch["image"].shape[1:] == (3, 32, 32)
        tiles = to_pixels(batch["tiles"])
        for b, (index, turns) in enumerate(zip(batch["index"].tolist(), batch["rotation"].tolist())):
            rotated = np.rot90(square_pixels[index], turns, axes=(0, 1))
            for j, cell in enumerate(batch["perm"][b].tolist()):
                assert tile_offsets(tiles[b, j], rotated, cell)
            rotations.append(turns)
    assert set(rotations) == {0, 1, 2, 3}
