"""End to end: each input type, accounting (accepted + rejected == inputs), shards agree with the
manifest, resume after an interruption gives the same dataset, refusals, one run through Ray."""

import hashlib
import io
import json
import shutil
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fixtures_ingest import encode_image, make_video, quadrant_pixels, write_tar, yfcc_line
from mmssl.data.prepare_journal import PrepareRefused
from mmssl.data.manifest import read_manifest, read_rejected
from mmssl.data.prepare import PrepareConfig, prepare
from mmssl.data.shards import list_shards, read_index
from mmssl.data.sources import FolderSource, WebdatasetSource, YfccSource


def local_config(out_dir, **overrides) -> PrepareConfig:
    return PrepareConfig(output_dir=str(out_dir), local=True, progress=False, **{"shard_bytes": 16_000, **overrides})


def shard_samples(out_dir) -> dict[str, dict[str, bytes]]:
    """key -> {ext: bytes} over every complete shard, checking each .idx against its tar."""
    samples = {}
    for tar_path, idx_path in list_shards(out_dir / "shards"):
        raw = tar_path.read_bytes()
        with tarfile.open(tar_path) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                samples.setdefault(key, {})[ext] = tar.extractfile(member).read()
        for entry in read_index(idx_path):
            offset, size = entry["index"]
            key = f"{int.from_bytes(raw[offset:offset + size], 'little'):010d}"
            for ext, (offset, size) in entry.items():
                assert raw[offset : offset + size] == samples[key][ext]
    return samples


def assert_accounting(out_dir, inputs: int) -> tuple[list[dict], list[dict]]:
    manifest, rejected = read_manifest(out_dir).to_pylist(), read_rejected(out_dir).to_pylist()
    assert len(manifest) + len(rejected) == inputs
    assert [row["index"] for row in manifest] == list(range(len(manifest)))
    summary = json.loads((out_dir / "summary.json").read_text())
    assert (summary["inputs"], summary["accepted"], summary["rejected"]) == (inputs, len(manifest), len(rejected))
    samples = shard_samples(out_dir)
    assert sorted(samples) == [row["key"] for row in manifest]
    for row in manifest:
        stored = samples[row["key"]]
        assert row["bytes"] == sum(len(b) for b in stored.values())
        assert json.loads(stored["json"])["source"] == row["source"]
        expected = {"image": {"jpg"}, "audio": {"flac"}}.get(row["modality"]) or \
            {"mp4"} | ({"flac"} if row["has_audio"] else set())
        assert set(stored) == expected | {"json", "index"}
        if row["modality"] == "image":
            assert Image.open(io.BytesIO(stored["jpg"])).size == (row["width"], row["height"])
    return manifest, rejected


@pytest.fixture(scope="module")
def prepared_mixed(mixed_media_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared_mixed")
    return out, prepare(FolderSource(str(mixed_media_dir[0])), local_config(out))


def test_folder_of_good_and_broken_files(mixed_media_dir, prepared_mixed):
    root, expected = mixed_media_dir
    out, summary = prepared_mixed
    manifest, rejected = assert_accounting(out, inputs=len(expected))
    outcome = {row["source"][len(str(root)) + 1 :]: row["modality"] for row in manifest}
    outcome |= {row["source"][len(str(root)) + 1 :]: row["reason"] for row in rejected}
    for name, want in expected.items():
        assert outcome[name].startswith(want), (name, outcome[name])
    video = next(row for row in manifest if row["source"].endswith("clip.mp4"))
    assert (video["fps"], video["num_frames"], video["has_audio"], video["audio_sample_rate_hz"]) == (24.0, 24, True, 16_000)
    assert summary["by_modality"]["image"]["count"] == 3 and summary["by_modality"]["video"]["count"] == 2
    assert summary["by_modality"]["audio"]["count"] == 3
    assert summary["rejected_by_reason"]["truncated JPEG"] == 1 and summary["rejected_by_reason"]["empty file"] == 1


def test_output_is_readable_by_dali_and_decord(prepared_mixed):
    """The point of normalizing: DALI's webdataset reader + CPU decoders, and decord for H.264."""
    import decord
    from nvidia.dali import fn, pipeline_def, types

    out, _ = prepared_mixed
    manifest = read_manifest(out).to_pylist()
    tars, idxs = zip(*[(str(t), str(i)) for t, i in list_shards(out / "shards")])

    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def members(ext):
        data, index = fn.readers.webdataset(paths=list(tars), index_paths=list(idxs), ext=[ext, "index"],
                                            missing_component_behavior="skip", dtypes=[types.UINT8, types.INT64])
        decoded = fn.decoders.image(data) if ext == "jpg" else fn.decoders.audio(data, downmix=True)[0]
        return decoded, index

    images = [row for row in manifest if row["modality"] == "image"]
    pipe = members("jpg")
    pipe.build()
    for _ in images:
        pixels, index = (o.at(0) for o in pipe.run())
        row = manifest[int(index[0])]
        assert pixels.shape == (row["height"], row["width"], 3)
    with_audio = [row for row in manifest if row["has_audio"]]
    pipe = members("flac")
    pipe.build()
    samples, index = (o.at(0) for o in pipe.run())
    assert int(index[0]) == with_audio[0]["index"] and abs(samples.shape[0] - 16_000) < 1_000

    stored = shard_samples(out)
    for row in (r for r in manifest if r["modality"] == "video"):
        reader = decord.VideoReader(io.BytesIO(stored[row["key"]]["mp4"]))
        assert len(reader) == row["num_frames"]
        assert reader.get_batch([0, row["num_frames"] - 1]).shape == (2, row["height"], row["width"], 3)


def test_yfcc_metadata_with_missing_files(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    (media / "101.jpg").write_bytes(encode_image(quadrant_pixels(), "JPEG"))
    (media / "102.png").write_bytes(encode_image(quadrant_pixels(), "PNG"))
    (media / "103.mp4").write_bytes(make_video(seconds=0.5))
    rows = [("101", "jpg", "0"), ("104", "jpg", "0"), ("102", "png", "0"), ("103", "mp4", "1"), ("105", "mp4", "1")]
    lines = [yfcc_line(*row, number=i) for i, row in enumerate(rows)] + ["broken\trow"]
    (tmp_path / "yfcc100m_dataset").write_text("\n".join(lines) + "\n")
    source = YfccSource(str(tmp_path / "yfcc100m_dataset"), str(media))
    prepare(source, local_config(tmp_path / "out"))
    manifest, rejected = assert_accounting(tmp_path / "out", inputs=6)
    assert [row["source"] for row in manifest] == [str(media / n) for n in ("101.jpg", "102.png", "103.mp4")]
    assert [(r["source"], r["reason"]) for r in rejected[:2]] == [
        (str(media / "104.jpg"), "file missing"), (str(media / "105.mp4"), "file missing")]
    assert rejected[2]["stage"] == "enumerate" and rejected[2]["source"].endswith("yfcc100m_dataset:6")


def test_webdataset_through_ray(ray_local, tmp_path):
    jpeg = encode_image(quadrant_pixels(), "JPEG")
    good = write_tar(tmp_path / "in-000.tar", [
        ("a.jpg", jpeg), ("a.json", json.dumps({"url": "https://example.com/a.jpg"}).encode()), ("a.txt", b"cap"),
        ("b.mp4", make_video(seconds=0.5)), ("b.json", b"{}"),
        ("c.jpg", jpeg[: len(jpeg) // 2]), ("c.txt", b"bad member"),
        ("d.txt", b"text only"),
        ("e.webp", encode_image(quadrant_pixels(), "WEBP")),
    ])
    (tmp_path / "in-001.tar").write_bytes(b"not a tar" * 100)
    prepare(WebdatasetSource(str(tmp_path / "in-*.tar")),
            PrepareConfig(output_dir=str(tmp_path / "out"), workers=2, batch_size=2, shard_bytes=16_000, progress=False))
    manifest, rejected = assert_accounting(tmp_path / "out", inputs=6)
    assert [row["source"] for row in manifest] == ["https://example.com/a.jpg", f"{good}:b", f"{good}:e"]
    assert [row["modality"] for row in manifest] == ["image", "video", "image"]
    assert [(r["source"], r["reason"]) for r in rejected][:2] == [
        (f"{good}:c", "truncated JPEG"), (f"{good}:d", "no media member (members: txt)")]
    assert rejected[2]["source"] == str(tmp_path / "in-001.tar") and rejected[2]["reason"].startswith("bad tar file")


@pytest.fixture(scope="module")
def resume_media(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume_media")
    rng = np.random.default_rng(1)
    for i in range(14):
        pixels = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)  # noise: about 3 KB per JPEG
        (root / f"img{i:02d}.png").write_bytes(encode_image(pixels, "PNG"))
    (root / "img05_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "vid.mp4").write_bytes(make_video(seconds=0.5))
    return root


def dataset_fingerprint(out_dir) -> tuple:
    shards = tuple((t.name, hashlib.sha256(t.read_bytes()).hexdigest(), i.read_text()) for t, i in list_shards(out_dir / "shards"))
    return pq.read_table(out_dir / "manifest.parquet").to_pylist(), read_rejected(out_dir).to_pylist(), shards


def test_resume_after_interruption_gives_the_same_dataset(resume_media, tmp_path):
    source = FolderSource(str(resume_media))
    prepare(source, local_config(tmp_path / "whole", shard_bytes=12_000))
    whole = dataset_fingerprint(tmp_path / "whole")
    assert len(whole[2]) >= 4 and len(whole[0]) == 15

    out = tmp_path / "interrupted"
    stopped = prepare(source, local_config(out, shard_bytes=12_000, stop_after_shards=2))
    assert stopped["complete"] is False and stopped["shards_finished"] == 2
    assert not (out / "manifest.parquet").exists()
    # what a kill leaves behind: a half-written shard, and a finished shard not yet journaled
    shutil.copy(out / "shards" / "shard-000001.tar", out / "shards" / "shard-000002.tar")
    shutil.copy(out / "shards" / "shard-000001.idx", out / "shards" / "shard-000002.idx")
    (out / "shards" / "shard-000003.tar.partial").write_bytes(b"half")
    summary = prepare(source, local_config(out, shard_bytes=12_000))
    manifest, rejected, shards = dataset_fingerprint(out)
    for got, want in zip(manifest, whole[0]):
        assert got == want
    assert len(manifest) == len(whole[0]) and rejected == whole[1]
    assert [name for name, _, _ in shards] == [name for name, _, _ in whole[2]]
    assert shards == whole[2]
    assert summary["inputs"] == 16 and summary["this_run"]["inputs"] < 16  # the second run skipped what was done


def test_output_inside_input_is_refused(resume_media):
    with pytest.raises(PrepareRefused, match="lies inside --input"):
        prepare(FolderSource(str(resume_media)), local_config(resume_media / "prepared"))
    assert not (resume_media / "prepared").exists()


def test_complete_or_different_runs_are_refused(resume_media, tmp_path):
    source = FolderSource(str(resume_media))
    prepare(source, local_config(tmp_path))
    with pytest.raises(PrepareRefused, match="already a complete dataset"):
        prepare(source, local_config(tmp_path))
    stopped_dir = tmp_path / "stopped"
    prepare(source, local_config(stopped_dir, shard_bytes=12_000, stop_after_shards=1))
    with pytest.raises(PrepareRefused, match="different input or settings"):
        prepare(source, local_config(stopped_dir, shard_bytes=24_000))
    summary = prepare(source, local_config(stopped_dir, shard_bytes=24_000, overwrite=True))
    assert summary["complete"] and summary["inputs"] == 16


def test_input_that_kills_its_worker_costs_only_its_own_refusal(ray_local):
    from mmssl.data.prepare import RayBatches
    from mmssl.data.sources import InputItem

    def task(items, image_config, video_config):  # defined here so Ray ships it by value
        import os

        from mmssl.data.prepare_worker import Outcome

        if any(item.source == "poison" for item in items):
            os._exit(3)  # what a decoder segfault looks like from the driver
        return [Outcome(item.source, members={"jpg": b"x"}, fields={}) for item in items]

    tasks = RayBatches(PrepareConfig(output_dir="unused", task_timeout_s=60), task=task)
    batch = [InputItem(source=name) for name in ("a", "poison", "b")]
    outcomes = tasks.collect(batch, tasks.submit(batch))
    assert [(o.source, o.accepted) for o in outcomes] == [("a", True), ("poison", False), ("b", True)]
    assert outcomes[1].stage == "worker" and outcomes[1].reason.startswith("worker failed: WorkerCrashedError")


def test_a_hanging_input_costs_only_its_own_refusal(ray_local, tmp_path):
    """A file whose read never returns (a FIFO with no writer, as a stuck mount behaves) hangs its batch's
    task; the batch is retried one input per task, and only the hanging input is refused, as timed out."""
    import os

    from mmssl.data.prepare import RayBatches
    from mmssl.data.sources import InputItem

    stuck = tmp_path / "stuck.jpg"
    os.mkfifo(stuck)
    jpeg = encode_image(quadrant_pixels(), "JPEG")
    tasks = RayBatches(PrepareConfig(output_dir="unused", task_timeout_s=3))
    batch = [InputItem("a", data=jpeg), InputItem(str(stuck), path=str(stuck)), InputItem("c", data=jpeg)]
    outcomes = tasks.collect(batch, tasks.submit(batch))
    assert [(o.source, o.accepted) for o in outcomes] == [("a", True), (str(stuck), False), ("c", True)]
    assert outcomes[1].stage == "worker" and outcomes[1].reason.startswith("worker timed out after 3 s")
    assert outcomes[0].fields["modality"] == "image" and outcomes[2].members["jpg"][:2] == b"\xff\xd8"


def test_summary_time_counts_each_run_once(resume_media, tmp_path, monkeypatch):
    import types

    import mmssl.data.prepare as prepare_module

    readings = iter(range(0, 10_000, 10))  # the driver's clock advances 10 s per reading
    monkeypatch.setattr(prepare_module, "time", types.SimpleNamespace(monotonic=lambda: float(next(readings))))
    source = FolderSource(str(resume_media))
    prepare(source, local_config(tmp_path, shard_bytes=12_000, stop_after_shards=2))
    assert json.loads((tmp_path / ".prepare" / "journal.json").read_text())["elapsed_s"] == 20  # start, 2 shards
    summary = prepare(source, local_config(tmp_path, shard_bytes=12_000))
    # this run: start, k checkpoints, the total, then this run's own reading one step later
    assert summary["time_s"] == 20 + summary["this_run"]["time_s"] - 10


def test_sound_files_feed_the_audio_family_and_no_video_family(prepared_mixed):
    """The prepared mixed folder holds 3 photos, a video with sound, a silent one and 3 sound files."""
    import torchaudio

    from mmssl.pipelines.loader import build_loader

    out, _ = prepared_mixed
    manifest = read_manifest(out).to_pylist()
    sounds = {row["index"] for row in manifest if row["modality"] == "audio"}
    with_sound = sounds | {row["index"] for row in manifest if row["modality"] == "video" and row["has_audio"]}
    options = {"audio_s": 0.4, "n_mels": 64, "augment": False}
    audio = build_loader("audio", out, batch_size=len(with_sound), shuffle=False, num_threads=1, options=options)
    assert audio.num_samples == len(with_sound) == 4
    assert audio.unused_modalities() == {"image": 3, "video": 1, "audio": 0}  # the silent video is left out
    batch = next(iter(audio))
    assert set(batch["index"].tolist()) == with_sound
    # the loudest mel band of each sound file's centred 0.4 s window is its tone: 440 Hz in the m4a; after
    # the switch at 0.6 s, 2500 Hz in the others
    peak_hz = torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, 64, 16_000, norm="slaney",
                                                    mel_scale="slaney").argmax(dim=0).float() * 8000 / 200
    tone_hz = {row["index"]: 440 if row["source"].endswith(".m4a") else 2500 for row in manifest if row["index"] in sounds}
    for row, index in enumerate(batch["index"].tolist()):
        if index in sounds:
            loudest = int(batch["audio"][row, 0].mean(dim=1).argmax())
            assert abs(peak_hz[loudest] - tone_hz[index]) < 150, (index, float(peak_hz[loudest]))
    clips = build_loader("clips", out, batch_size=2, num_threads=1, options={"crop_px": 32, "frames": 2})
    assert clips.num_samples == 2 and clips.unused_modalities() == {"image": 3, "video": 0, "audio": 3}
    assert build_loader("av_pairs", out, batch_size=1, num_threads=1).num_samples == 1
