"""Linear probes on features with planted structure: they find it, and find nothing in shuffled labels."""

import json

import numpy as np
import pytest
import torch

from mmssl.eval.feature_store import INDEX, LAYERS_FILE, FeatureStore
from mmssl.eval.linear_probe import LabelledRows, ProbeSettings, probe_layer


def write_store(store_dir, layers: dict[str, np.ndarray], index: np.ndarray, chunks: int = 3, shards: int = 1):
    """A store laid out as extraction writes it: `shards` x `chunks` files per layer."""
    (store_dir / LAYERS_FILE).parent.mkdir(parents=True, exist_ok=True)
    (store_dir / LAYERS_FILE).write_text(json.dumps(list(layers)))
    for name in (*layers, INDEX):
        (store_dir / name).mkdir(parents=True, exist_ok=True)
    pieces = np.array_split(np.arange(index.size), shards * chunks)
    for number, rows in enumerate(pieces):
        shard, chunk = divmod(number, chunks)
        np.save(store_dir / INDEX / f"{shard:04d}-{chunk:05d}.npy", index[rows])
        for name, values in layers.items():
            np.save(store_dir / name / f"{shard:04d}-{chunk:05d}.npy", values[rows].astype(np.float16))


def planted(num_samples=600, num_classes=4, dims=64, signal=1.5, seed=0):
    """Class means along random directions plus unit noise, and a distractor layer of pure noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_samples)
    means = rng.normal(size=(num_classes, dims)) * signal
    features = means[labels] + rng.normal(size=(num_samples, dims))
    return labels, {"informative": features, "noise": rng.normal(size=(num_samples, dims))}


def split(labels, fraction=0.25, seed=1):
    held = np.zeros(labels.size, dtype=bool)
    held[np.random.default_rng(seed).permutation(labels.size)[: int(fraction * labels.size)]] = True
    return torch.from_numpy(held)


def test_probe_finds_planted_classes_and_nothing_in_noise_or_shuffled_labels(tmp_path):
    labels, layers = planted()
    write_store(tmp_path, layers, np.arange(labels.size))
    store = FeatureStore(tmp_path)
    held = split(labels)
    by_index = torch.from_numpy(labels)
    train, held_out = LabelledRows(store, by_index, ~held), LabelledRows(store, by_index, held)
    settings = ProbeSettings(epochs=8, batch_size=64)
    informative = probe_layer("informative", train, held_out, 4, settings)
    noise = probe_layer("noise", train, held_out, 4, settings)
    shuffled_labels = torch.from_numpy(np.random.default_rng(5).permutation(labels))
    shuffled = probe_layer("informative", LabelledRows(store, shuffled_labels, ~held),
                           LabelledRows(store, shuffled_labels, held), 4, settings)
    print(f"held-out top-1: informative {informative.held_out_top1:.3f}, noise {noise.held_out_top1:.3f}, "
          f"shuffled labels {shuffled.held_out_top1:.3f} (chance 0.25)")
    assert informative.held_out_top1 >= 0.95
    assert noise.held_out_top1 <= 0.40 and shuffled.held_out_top1 <= 0.40
    assert (informative.num_train, informative.num_held_out) == (450, 150)
    assert informative.dims == 64


def test_rows_two_shards_hold_are_read_once(tmp_path):
    labels, layers = planted(num_samples=100)
    # the second shard repeats rows 0..9, as the loader's padding does at the end of a rank
    index = np.concatenate([np.arange(100), np.arange(10)])
    padded = {name: np.concatenate([values, values[:10]]) for name, values in layers.items()}
    write_store(tmp_path, padded, index, chunks=2, shards=2)
    store = FeatureStore(tmp_path)
    features, read_index = store.whole("informative")
    assert sorted(read_index.tolist()) == list(range(100))
    np.testing.assert_allclose(features.numpy(), layers["informative"][read_index.numpy()].astype(np.float16), rtol=0)


def test_unlabelled_rows_are_left_out_of_both_splits(tmp_path):
    labels, layers = planted(num_samples=200)
    write_store(tmp_path, layers, np.arange(200))
    by_index = torch.from_numpy(labels)
    by_index[:50] = -1
    held = split(labels)
    result = probe_layer("informative", LabelledRows(FeatureStore(tmp_path), by_index, ~held),
                         LabelledRows(FeatureStore(tmp_path), by_index, held), 4, ProbeSettings(epochs=2))
    assert result.num_train + result.num_held_out == 150
    assert result.num_held_out == int(held[50:].sum())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="probe settings"):
        ProbeSettings(epochs=0)
