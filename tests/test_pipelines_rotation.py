"""Rotations: each label matches torch.rot90 of the un-rotated view; Jigsaw+Rotation tiles the rotated crop."""

import numpy as np
import torch

from fixtures_pipelines import tile_offsets, to_pixels
from mmssl.pipelines.loader import build_loader

WHOLE = {"augment_image": False, "image_size": 255, "image_scale": (1.0, 1.0)}  # the view is the decoded image


def test_label_matches_rot90_of_the_unrotated_view(square_dataset, square_pixels):
    loader = build_loader("rotation", square_dataset, batch_size=8, seed=2, options=WHOLE)
    labels = []
    for batch in loader:
        assert batch["image"].shape == (8, 3, 255, 255)
        for image, label, index in zip(to_pixels(batch["image"]), batch["label"].tolist(), batch["index"].tolist()):
            unrotated = torch.from_numpy(square_pixels[index])
            assert np.array_equal(image, torch.rot90(unrotated, label, dims=(0, 1)).numpy())
            labels.append(label)
    assert set(labels) == {0, 1, 2, 3}


def test_all_rotations_in_one_batch(image_dataset):
    options = {"all_rotations": True, "image_size": 64}
    batch = next(iter(build_loader("rotation", image_dataset, batch_size=4, seed=1, options=options)))
    assert batch["image"].shape == (16, 3, 64, 64)
    assert batch["label"].tolist() == [0, 1, 2, 3] * 4
    assert torch.equal(batch["index"], batch["index"][::4].repeat_interleave(4))
    for b in range(4):
        upright = batch["image"][4 * b]
        for k in range(1, 4):
            assert torch.equal(batch["image"][4 * b + k], torch.rot90(upright, k, dims=(1, 2)))


def test_jigsaw_rotation_tiles_the_rotated_crop(square_dataset, square_pixels):
    options = {"tile_crop_scale": (1.0, 1.0), "augment_tiles": False}
    loader = build_loader("jigsaw_rotation", square_dataset, batch_size=8, seed=6, options=options)
    rotations = []
    for batch in loader:
        assert set(batch) == {"tiles", "perm", "rotation", "index", "row"}
        tiles = to_pixels(batch["tiles"])
        for b, (index, turns) in enumerate(zip(batch["index"].tolist(), batch["rotation"].tolist())):
            rotated = np.rot90(square_pixels[index], turns, axes=(0, 1))
            for j, cell in enumerate(batch["perm"][b].tolist()):
                assert tile_offsets(tiles[b, j], rotated, cell)
            rotations.append(turns)
    assert set(rotations) == {0, 1, 2, 3}
