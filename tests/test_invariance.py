"""Invariance measurement: tiles land where the shuffle says, identity gives distance 0."""

import numpy as np
import torch

from mmssl.eval.invariance import DistanceSummary, invariance_distances, jigsaw_shuffle, rotate


def numbered_tiles(batch=2, tile=4):
    """Images whose 3x3 tiles are constant and equal to the tile's number (0..8) in every channel."""
    tiles = torch.arange(9, dtype=torch.float32).reshape(3, 3)
    image = tiles.repeat_interleave(tile, 0).repeat_interleave(tile, 1)
    return image.expand(batch, 3, -1, -1).clone()


def test_each_tile_of_a_jigsaw_shuffle_is_a_whole_original_tile_and_the_order_changed():
    images = numbered_tiles()
    shuffled = jigsaw_shuffle(images, torch.Generator().manual_seed(0))
    for image in shuffled:
        numbers = []
        for row in range(3):
            for column in range(3):
                region = image[:, row * 4:(row + 1) * 4, column * 4:(column + 1) * 4]
                assert region.unique().numel() == 1  # a whole tile, not a mix of two
                numbers.append(int(region[0, 0, 0]))
        assert sorted(numbers) == list(range(9)) and numbers != list(range(9))


def test_rotation_turns_by_a_multiple_of_90_degrees():
    images = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    turned = rotate(images, torch.Generator().manual_seed(1))
    for original, result in zip(images, turned):
        matches = [k for k in (1, 2, 3) if torch.equal(torch.rot90(original, k, dims=(1, 2)), result)]
        assert len(matches) == 1


def test_identity_is_perfectly_invariant_and_a_tile_sensitive_feature_is_not():
    batches = [numbered_tiles(batch=4) + torch.rand(4, 3, 12, 12) * 0.1 for _ in range(2)]
    flatten = lambda images: images.flatten(1)  # a "feature" that sees tile positions
    assert np.allclose(invariance_distances(flatten, batches, "identity"), 0.0)
    moved = invariance_distances(flatten, batches, "jigsaw")
    assert moved.shape == (8,) and (moved > 0.05).all()
    summary = DistanceSummary.of(moved)
    assert summary.count == 8 and summary.p10 <= summary.median <= summary.p90


def test_pirl_tile_path_input_holds_every_tile_once_resized_and_shuffled():
    from mmssl.eval.invariance import shuffled_tiles

    tiles = shuffled_tiles(numbered_tiles(batch=3, tile=4), tile_px=8, generator=torch.Generator().manual_seed(2))
    assert tiles.shape == (3, 9, 3, 8, 8)
    for image_tiles in tiles:
        numbers = [float(tile.mean()) for tile in image_tiles]
        assert all(bool((tile == tile[0, 0, 0]).all()) for tile in image_tiles)  # whole tiles, not mixes
        assert sorted(numbers) == [float(n) for n in range(9)] and numbers != [float(n) for n in range(9)]


def test_pirl_heads_distance_is_zero_when_both_heads_agree():
    from mmssl.eval.invariance import pirl_head_distances

    class AgreeingHeads(torch.nn.Module):
        """f(image) = g(tiles) = the image's mean colour: invariant to any shuffle by construction."""

        def forward(self, image, tiles):
            return image.mean(dim=(2, 3)), tiles.mean(dim=(1, 3, 4))

    batches = [torch.rand(4, 3, 12, 12) + 0.1 for _ in range(2)]
    distances = pirl_head_distances(AgreeingHeads(), batches, tile_px=4)
    assert distances.shape == (8,) and np.allclose(distances, 0.0, atol=1e-5)
