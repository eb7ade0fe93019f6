"""Labelled evaluation data: classes and splits come from where each file sits."""

import numpy as np
import pytest
import torch
from PIL import Image

from mmssl.data.manifest import read_manifest
from mmssl.eval.labelled_data import class_of_source, held_out_split, labelled_dataset, read_labelled, write_labels


def write_image(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((24, 32, 3), colour, dtype=np.uint8)).save(path)


def test_class_folders_under_train_and_val_give_each_file_its_class_and_split(tmp_path):
    root = tmp_path / "flowers"
    colours = {"daisy": (250, 250, 250), "rose": (200, 0, 0)}
    for split, count in (("train", 3), ("val", 2)):
        for name, colour in colours.items():
            for number in range(count):
                write_image(root / split / name / f"{number}.jpg", colour)
    (root / "train" / "rose" / "broken.jpg").write_bytes(b"not an image")
    labelled = labelled_dataset(root, tmp_path / "cache")
    assert labelled.class_names == ("daisy", "rose")
    manifest = read_manifest(labelled.data_dir, columns=["index", "source"]).to_pylist()
    assert len(manifest) == 10  # the broken file is rejected, not labelled
    for row in manifest:
        parts = row["source"].split("/")
        assert labelled.class_names[labelled.labels[row["index"]]] == parts[-2]
        assert bool(labelled.held_out[row["index"]]) == (parts[-3] == "val")
    again = labelled_dataset(root, tmp_path / "cache")  # prepared once, read back the same
    assert torch.equal(again.labels, labelled.labels) and again.data_dir == labelled.data_dir


def test_a_folder_without_class_folders_is_refused_with_the_layout_expected(tmp_path):
    for number in range(3):
        write_image(tmp_path / "flat" / f"{number}.jpg", (number * 50, 0, 0))
    with pytest.raises(ValueError, match="one sub-folder per class"):
        labelled_dataset(tmp_path / "flat", tmp_path / "cache")


def test_paths_map_to_classes_and_splits():
    from pathlib import Path

    assert class_of_source(Path("cat/1.jpg")) == ("cat", None)
    assert class_of_source(Path("val/cat/a/1.jpg")) == ("cat", True)
    assert class_of_source(Path("train/cat/1.jpg")) == ("cat", False)
    assert class_of_source(Path("1.jpg")) is None


def test_held_out_split_is_stratified_and_fixed_by_its_seed():
    labels = torch.tensor([0] * 50 + [1] * 30 + [-1] * 5)
    held = held_out_split(labels, 0.2, seed=3)
    assert int(held[:50].sum()) == 10 and int(held[50:80].sum()) == 6 and not held[80:].any()
    assert torch.equal(held, held_out_split(labels, 0.2, seed=3))
    assert not torch.equal(held, held_out_split(labels, 0.2, seed=4))


def test_labels_file_round_trips_with_class_names(tmp_path, square_dataset):
    import shutil

    prepared_images_dir = shutil.copytree(square_dataset, tmp_path / "data")
    count = read_manifest(prepared_images_dir, columns=["index"]).num_rows
    labels = torch.arange(count) % 3
    labels[0] = -1
    write_labels(prepared_images_dir, labels, ("a", "b", "c"), held_out=torch.arange(count) % 2 == 0,
                 )
    back = read_labelled(prepared_images_dir)
    assert torch.equal(back.labels, labels) and back.class_names == ("a", "b", "c")
    assert torch.equal(back.held_out, torch.arange(count) % 2 == 0)
