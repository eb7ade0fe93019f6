"""The evaluation recipes end to end on a tiny labelled folder: linear_probe, invariance, clusterfit."""

import json

import numpy as np
import torch
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fixtures_runs import run_dir_from_config
from mmssl.recipes import invariance, linear_probe
from mmssl.recipes.pirl_yfcc import embedded_config

STAGES = ["conv1", "res2", "res3", "res4", "res5"]


@pytest.fixture(scope="module")
def colour_classes(tmp_path_factory):
    """train/ and val/ folders of two classes that differ in hue (with noise and varied brightness)."""
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("val", 6)):
        for name, hue in (("warm", (200, 60, 30)), ("cool", (30, 80, 200))):
            for number in range(count):
                pixels = np.clip(np.array(hue) * rng.uniform(0.6, 1.2) + rng.normal(0, 25, (40, 48, 3)), 0, 255)
                path = root / split / name / f"{number}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels.astype(np.uint8)).save(path)
    return root


@pytest.fixture(scope="module")
def pirl_run(tmp_path_factory, colour_classes):
    """A PIRL run directory (embedded config, initial weights) that trained on the colour folder's data."""
    from mmssl.eval.labelled_data import labelled_dataset

    cache = tmp_path_factory.mktemp("cache")
    data_dir = labelled_dataset(colour_classes, cache).data_dir
    return run_dir_from_config(tmp_path_factory.mktemp("runs") / "pirl-run", embedded_config(), data_dir), cache


def test_linear_probe_writes_every_layer_and_random_init_rebuilds_the_runs_first_weights(
        pirl_run, colour_classes, tmp_path, capsys):
    run_dir, cache = pirl_run
    common = ["--checkpoint", str(run_dir), "--data", str(colour_classes), "--cache-dir", str(cache), "--epochs", "10"]
    assert linear_probe.main(common + ["--json", str(tmp_path / "trained.json"), "--plot", str(tmp_path / "p.png")]) == 0
    assert linear_probe.main(common + ["--random-init", "--json", str(tmp_path / "random.json")]) == 0
    output = capsys.readouterr().out
    trained = json.loads((tmp_path / "trained.json").read_text())
    assert list(trained) == STAGES
    # hue separates the classes linearly at every layer, even without training; a probe that paired
    # features with the wrong samples' labels would sit near 0.5
    assert all(accuracy >= 0.9 for accuracy in trained.values()), trained
    # the checkpoint holds the run's initial weights, so "random init" must score identically
    assert json.loads((tmp_path / "random.json").read_text()) == trained
    assert "24 training samples, 12 held-out samples" in output
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_linear_probe_refuses_a_directory_that_is_not_a_run(tmp_path, colour_classes, capsys):
    assert linear_probe.main(["--checkpoint", str(tmp_path), "--data", str(colour_classes)]) == 2
    assert "not an mmssl run directory" in capsys.readouterr().err


def test_invariance_is_zero_for_identity_and_positive_for_jigsaw(pirl_run, tmp_path):
    run_dir, _ = pirl_run
    for transform in ("identity", "jigsaw"):
        out = tmp_path / f"{transform}.json"
        assert invariance.main(["--checkpoint", str(run_dir), "--transform", transform, "--json", str(out)]) == 0
        (summary,) = json.loads(out.read_text())["networks"].values()
        assert summary["count"] == 36
        if transform == "identity":
            assert summary["mean"] == pytest.approx(0.0, abs=1e-6)
        else:
            assert summary["p10"] > 1e-3


def test_clusterfit_pseudo_labels_are_a_function_of_features_and_seed(pirl_run, tmp_path):
    import argparse

    from mmssl.eval.evaluated_run import EvaluatedRun
    from mmssl.recipes.clusterfit import cluster

    run_dir, _ = pirl_run
    run = EvaluatedRun(run_dir)
    data_dir = type(run_dir)(run.spec.data_dir)
    args = argparse.Namespace(extract_workers=1, clusters=4, kmeans_iterations=30, seed=0)
    first, k = cluster(run, data_dir, tmp_path / "a", args)
    labels = pq.read_table(first)["label"].to_numpy()
    again, _ = cluster(run, data_dir, tmp_path / "b", args)
    assert k == 4 and sorted(set(labels.tolist())) == [0, 1, 2, 3]
    assert np.array_equal(pq.read_table(again)["label"].to_numpy(), labels)


def test_knn_votes_held_out_samples_among_training_ones(pirl_run, colour_classes, tmp_path, capsys):
    from mmssl.recipes import knn

    run_dir, cache = pirl_run
    out = tmp_path / "knn.json"
    assert knn.main(["--checkpoint", str(run_dir), "--data", str(colour_classes), "--cache-dir", str(cache),
                     "--k", "5", "--compare-random-init", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert set(results) == {"trained", "random init"}
    assert results["trained"] >= 0.9 and results["trained"] == results["random init"]  # same weights here


@pytest.fixture(scope="module")
def video_classes(tmp_path_factory):
    """A UCF101-style folder: generated videos with sound (class = object and tone), one folder per class."""
    import shutil

    from mmssl.data.synthetic import generate_media, load_labels

    raw = tmp_path_factory.mktemp("raw_videos")
    generated = generate_media(raw, num_images=0, num_videos=12, num_classes=2, num_corrupt=0, seed=3,
                               video_seconds=(2.0, 2.0), video_sizes=((160, 120),), video_fps_choices=(24,),
                               audio_fraction=1.0)
    root = tmp_path_factory.mktemp("ucf_like")
    for row in load_labels(raw, "video").to_pylist():
        target = root / f"class_{row['label']}" / row["source"].replace("/", "_")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(generated.media_root / row["source"], target)
    return root


def test_video_and_audio_probes_score_the_pooled_clip_and_sound_features(video_classes, tmp_path, capsys):
    from mmssl.eval.labelled_data import labelled_dataset
    from mmssl.recipes.avid import embedded_config as avid_config

    cache = tmp_path / "cache"
    data_dir = labelled_dataset(video_classes, cache).data_dir
    run_dir = run_dir_from_config(tmp_path / "avid-run", avid_config(), data_dir)
    for modality in ("video", "audio"):
        out = tmp_path / f"{modality}.json"
        assert linear_probe.main(["--checkpoint", str(run_dir), "--data", str(video_classes), "--cache-dir", str(cache),
                                  "--modality", modality, "--held-out-fraction", "0.34", "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        assert list(result) == ["pooled"] and 0.0 <= result["pooled"] <= 1.0
    assert "8 training samples, 4 held-out samples" in capsys.readouterr().out
    # the tone of each class is its sound: even a random audio network's pooled features separate it
    assert json.loads((tmp_path / "audio.json").read_text())["pooled"] >= 0.75


@pytest.fixture(scope="module")
def sound_classes(tmp_path_factory):
    """An ESC-50-style folder: sound files only (WAV, FLAC, mp3, Ogg Opus, m4a), one folder per class."""
    from fixtures_sound import FORMATS, sound_file

    root = tmp_path_factory.mktemp("esc_like")
    rng = np.random.default_rng(5)
    for name, band_hz in (("hum", (250.0, 600.0)), ("whistle", (2000.0, 3500.0))):
        for number, kind in enumerate(sorted(FORMATS) * 2):
            tone_hz = float(rng.uniform(*band_hz))
            path = root / name / f"{number}.{kind}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(sound_file(kind, seconds=1.2, tones_hz=(tone_hz, tone_hz), switches_s=()))
    return root


def test_audio_probe_reads_a_folder_of_sound_files(sound_classes, tmp_path, capsys):
    """Sound files become audio-only samples, and the audio network of an audio-visual run is probed on them."""
    from mmssl.data.manifest import read_manifest
    from mmssl.eval.labelled_data import labelled_dataset
    from mmssl.recipes.avid import embedded_config as avid_config

    cache = tmp_path / "cache"
    data_dir = labelled_dataset(sound_classes, cache).data_dir
    manifest = read_manifest(data_dir).to_pylist()
    assert len(manifest) == 20 and {row["modality"] for row in manifest} == {"audio"}
    run_dir = run_dir_from_config(tmp_path / "avid-run", avid_config(), data_dir)
    out = tmp_path / "audio.json"
    assert linear_probe.main(["--checkpoint", str(run_dir), "--data", str(sound_classes), "--cache-dir", str(cache),
                              "--modality", "audio", "--held-out-fraction", "0.4", "--json", str(out)]) == 0
    assert "12 training samples, 8 held-out samples" in capsys.readouterr().out
    assert json.loads(out.read_text())["pooled"] >= 0.75  # a low hum against a whistle


def test_ray_tasks_extract_each_sample_once_with_the_same_features(pirl_run, ray_local, tmp_path):
    from mmssl.eval.evaluated_run import EvaluatedRun, SourceBuilder
    from mmssl.eval.feature_store import extract

    run_dir, _ = pirl_run
    run = EvaluatedRun(run_dir)
    builder = SourceBuilder(run, "image", ("res5",))
    alone = extract(builder, run.spec.data_dir, tmp_path / "alone", batch_size=8)
    sharded = extract(builder, run.spec.data_dir, tmp_path / "sharded", num_workers=2, batch_size=8)
    assert len({name.split("-")[0] for name in sharded.chunk_names}) == 2  # two shards wrote
    features, index = alone.whole("res5")
    sharded_features, sharded_index = sharded.whole("res5")
    assert sorted(sharded_index.tolist()) == sorted(index.tolist()) == list(range(36))
    order, sharded_order = index.argsort(), sharded_index.argsort()
    assert torch.allclose(features[order], sharded_features[sharded_order], atol=1e-2)
