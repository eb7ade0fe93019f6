"""The torchvision baseline: same names, shapes and semantics as the DALI loader, same rank slices."""

import numpy as np
import pytest
import torch

from fixtures_pipelines import tile_offsets, to_pixels
from mmssl.pipelines.loader import build_loader
from mmssl.pipelines.torch_reference import build_torch_loader

SMALL = {
    "pirl": {"image_size": 48},
    "jigsaw": {"permutations": 100},
    "rotation": {"image_size": 48, "all_rotations": True},
    "jigsaw_rotation": {},
    "views": {"image_size": 48, "num_views": 2, "small_views": 1, "small_size": 24, "solarize_p": 0.5},
}


@pytest.mark.parametrize("pipeline", sorted(SMALL))
def test_same_names_shapes_and_dtypes_as_dali(image_dataset, pipeline):
    dali = next(iter(build_loader(pipeline, image_dataset, batch_size=4, options=SMALL[pipeline])))
    reference = next(iter(build_torch_loader(pipeline, image_dataset, batch_size=4, num_workers=0, options=SMALL[pipeline])))
    assert dali.keys() == reference.keys()
    for name in dali:
        assert dali[name].shape == reference[name].shape, name
        assert dali[name].dtype == reference[name].dtype, name


def test_reference_tiles_follow_the_perm_convention(square_dataset, square_pixels):
    options = {"tile_crop_scale": (1.0, 1.0), "augment_tiles": False, "permutations": 100}
    batch = next(iter(build_torch_loader("jigsaw", square_dataset, batch_size=4, num_workers=0, options=options)))
    tiles = to_pixels(batch["tiles"])
    for b, index in enumerate(batch["index"].tolist()):
        for j, cell in enumerate(batch["perm"][b].tolist()):
            assert tile_offsets(tiles[b, j], square_pixels[index], cell)


def test_reference_and_dali_agree_on_unaugmented_views(square_dataset):
    """Whole-image view, no augmentation: both decode the same JPEG, so the pixels agree exactly."""
    options = {"augment_image": False, "image_scale": (1.0, 1.0), "image_size": 255}
    dali = next(iter(build_loader("rotation", square_dataset, batch_size=16, options={**options, "all_rotations": True})))
    reference = next(iter(build_torch_loader("rotation", square_dataset, batch_size=16, num_workers=0,
                                             options={**options, "all_rotations": True})))
    by_index = {i: img for i, img, k in zip(dali["index"].tolist(), dali["image"], dali["label"].tolist()) if k == 0}
    for i, img, k in zip(reference["index"].tolist(), reference["image"], reference["label"].tolist()):
        if k == 0 and i in by_index:
            assert np.array_equal(to_pixels(img), to_pixels(by_index[i]))


def test_reference_reads_the_same_batches_as_dali(image_dataset):
    """Same plan: for rank 1 of 3, the DataLoader's k-th batch holds the DALI loader's k-th batch's samples."""
    kwargs = dict(batch_size=4, shard_id=1, num_shards=3, seed=4, options={"image_size": 16})
    dali = [batch["index"].tolist() for batch in build_loader("rotation", image_dataset, **kwargs)]
    reference = [batch["index"].tolist() for batch in build_torch_loader("rotation", image_dataset, num_workers=2, **kwargs)]
    assert reference == dali
    assert len(dali) == 6 and len(set(i for b in dali for i in b)) >= 21  # 64 / 3 ranks, padded to full batches
