"""The synthetic media folder: deterministic, honestly labelled, learnable by structure, decodable as stated."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageOps

from mmssl.data.synthetic import (
    CORRUPT_KINDS,
    IMAGE_CLASS_NAMES,
    IMAGE_FORMATS,
    IMAGE_OBJECT_CLASS_NAMES,
    METADATA_FILES,
    TONE_HEIGHT_BEND_SEMITONES,
    VIDEO_CLASS_NAMES,
    SyntheticConfig,
    generate_media,
    labels_by_source,
    load_expected_rejects,
    load_labels,
    tone_frequency_hz,
)

TINY = dict(num_images=10, num_videos=2, num_classes=4, num_corrupt=4, video_seconds=1.0, image_long_side_px=(64, 96), video_sizes=((96, 64),))


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def upright(path: Path) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(path))


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(stream)])
        return samples.astype(np.float64), stream.rate


def dominant_frequency_hz(samples: np.ndarray, sample_rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sample_rate_hz)[spectrum.argmax()])


def semitones(a_hz: float, b_hz: float) -> float:
    return 12 * abs(np.log2(a_hz / b_hz))


# ---------------------------------------------------------------- the tree and its records


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = generate_media(tmp_path / "a", seed=3, **TINY)
    second = generate_media(tmp_path / "b", seed=3, **TINY)
    other = generate_media(tmp_path / "c", seed=4, **TINY)
    assert tree_digest(first.root) == tree_digest(second.root)
    a, c = tree_digest(first.media_root), tree_digest(other.media_root)
    good_a = {a[s] for s in load_labels(first.root)["source"].to_pylist()}
    good_c = {c[s] for s in load_labels(other.root)["source"].to_pylist()}
    assert not good_a & good_c  # every good file's content depends on the seed
    assert set(a) != set(c)  # and so do the names


def test_labels_cover_every_good_file_and_no_corrupt_one(synthetic_media):
    root = synthetic_media.media_root
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {p.name for p in synthetic_media.root.iterdir() if p.is_file()} == set(METADATA_FILES)
    labels = load_labels(synthetic_media.root)
    labelled = set(labels["source"].to_pylist())
    rejects = set(load_expected_rejects(synthetic_media.root)["source"].to_pylist())
    assert len(labelled) == labels.num_rows  # one row per file
    assert labelled | rejects == on_disk and not labelled & rejects
    assert {p.relative_to(root).as_posix() for p in synthetic_media.images + synthetic_media.videos} == labelled
    assert {p.relative_to(root).as_posix() for p in synthetic_media.expected_rejects} == rejects
    assert sorted(p.relative_to(root).as_posix() for p in synthetic_media.media_files) == sorted(on_disk)
    # an uncurated folder: several subfolders and extension spellings
    assert len({Path(s).parent.as_posix() for s in on_disk}) >= 4
    assert {Path(s).suffix for s in on_disk} >= {".jpg", ".JPG", ".png"}


def test_labels_are_balanced_and_named(synthetic_media):
    images = load_labels(synthetic_media.root, "image").to_pylist()
    counts = np.bincount([row["label"] for row in images], minlength=8)
    assert counts.tolist() == [12] * 8
    assert all(row["class_name"] == IMAGE_CLASS_NAMES[row["label"]] for row in images)
    videos = load_labels(synthetic_media.root, "video").to_pylist()
    assert all(row["class_name"] == VIDEO_CLASS_NAMES[row["label"]] for row in videos)
    mapping = labels_by_source(synthetic_media.root)
    assert all(mapping[row["source"]] == row["label"] for row in images + videos)


def test_images_decode_in_their_stated_format_and_size(synthetic_media):
    rows = load_labels(synthetic_media.root, "image").to_pylist()
    assert {row["format"] for row in rows} == set(IMAGE_FORMATS)
    assert sum(row["format"] == "jpeg" for row in rows) > len(rows) // 2
    for row in rows:
        path = synthetic_media.media_root / row["source"]
        stored = Image.open(path)
        shown = ImageOps.exif_transpose(stored)
        assert shown.size == (row["width"], row["height"]), row["source"]
        assert 96 <= max(shown.size) <= 160
        orientation = stored.getexif().get(0x0112)
        expected = {
            "png": ("PNG", "RGB", False, None),
            "jpeg": ("JPEG", "RGB", False, None),
            "progressive_jpeg": ("JPEG", "RGB", True, None),
            "grayscale_jpeg": ("JPEG", "L", False, None),
        }.get(row["format"])
        if expected is None:  # exif_rotated_jpeg: the stored pixels are turned, the tag turns them back
            assert orientation in (3, 6, 8)
            assert stored.size == (shown.size[::-1] if orientation in (6, 8) else shown.size)
        else:
            assert (stored.format, stored.mode, bool(stored.info.get("progressive")), orientation) == expected, row["source"]


def test_default_sizes_and_formats_with_few_images(tmp_path):
    media = generate_media(tmp_path / "few", num_images=5, num_videos=0, num_corrupt=0)
    rows = load_labels(media.root).to_pylist()
    assert {row["format"] for row in rows} == set(IMAGE_FORMATS)  # every format even with 5 images
    assert all(320 <= max(row["width"], row["height"]) <= 500 for row in rows)
    assert len({round(row["width"] / row["height"], 2) for row in rows}) >= 2


# ---------------------------------------------------------------- classes: structure, not colour


def structure_features(picture: Image.Image) -> np.ndarray:
    """Edge-orientation histogram, radial power spectrum and spectral peakiness of the gray image."""
    gray = np.asarray(picture.convert("L"), dtype=np.float64) / 255
    gy, gx = np.gradient(gray)
    orientation, _ = np.histogram(np.arctan2(gy, gx) % np.pi, bins=12, range=(0, np.pi), weights=np.hypot(gx, gy))
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray - gray.mean()))) ** 2
    h, w = gray.shape
    yy, xx = np.mgrid[0:h, 0:w]
    radius = np.hypot((yy - h // 2) / h, (xx - w // 2) / w)
    radial, _ = np.histogram(radius, bins=8, range=(0, 0.5), weights=power)
    peakiness = np.sort(power.ravel())[-8:].sum() / power.sum()
    return np.concatenate([orientation / orientation.sum(), radial / radial.sum(), [peakiness]])


def nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out nearest-class-mean accuracy on standardised features."""
    features = (features - features.mean(0)) / (features.std(0) + 1e-9)
    correct = 0
    for i in range(len(features)):
        others = np.arange(len(features)) != i
        centroids = np.stack([features[others & (labels == k)].mean(0) for k in np.unique(labels)])
        correct += int(np.argmin(((centroids - features[i]) ** 2).sum(1)) == labels[i])
    return correct / len(features)


def test_classes_separate_by_structure_but_not_by_mean_colour(synthetic_media):
    rows = load_labels(synthetic_media.root, "image").to_pylist()
    pictures = [upright(synthetic_media.media_root / row["source"]).convert("RGB") for row in rows]
    labels = np.array([row["label"] for row in rows])
    structure = np.stack([structure_features(p) for p in pictures])
    mean_colour = np.stack([np.asarray(p, dtype=np.float64).reshape(-1, 3).mean(0) for p in pictures])
    # 8 classes: chance is 0.125
    assert nearest_centroid_accuracy(structure, labels) >= 0.5
    assert nearest_centroid_accuracy(mean_colour, labels) <= 0.3


def dominant_orientation_deg(picture: Image.Image) -> float:
    """Direction (0..180) of the strongest non-DC spatial frequency; 90 = horizontal bars."""
    gray = np.asarray(picture.convert("L"), dtype=np.float64)
    power = np.abs(np.fft.fft2(gray - gray.mean())) ** 2
    # the background's shading ramp lives below 4 cycles per image; the stripes are well above
    low = np.abs(np.fft.fftfreq(gray.shape[0], 1 / gray.shape[0]))[:, None] < 4
    power[low & (np.abs(np.fft.fftfreq(gray.shape[1], 1 / gray.shape[1]))[None, :] < 4)] = 0
    fy, fx = np.unravel_index(power.argmax(), power.shape)
    fy = fy - gray.shape[0] if fy > gray.shape[0] // 2 else fy
    fx = fx - gray.shape[1] if fx > gray.shape[1] // 2 else fx
    return float(np.degrees(np.arctan2(fy / gray.shape[0], fx / gray.shape[1])) % 180)


def test_stripe_classes_have_their_own_dominant_orientation(synthetic_media):
    rows = load_labels(synthetic_media.root, "image").to_pylist()
    for row in rows:
        if row["class_name"] not in ("horizontal_stripes", "diagonal_stripes"):
            continue
        angle = dominant_orientation_deg(upright(synthetic_media.media_root / row["source"]))
        if row["class_name"] == "horizontal_stripes":
            assert abs(angle - 90) <= 16, (row["source"], angle)
        else:
            assert min(abs(angle - 45), abs(angle - 135)) <= 16, (row["source"], angle)


def test_one_object_scenes_show_one_large_shape_in_the_middle_of_its_class(tmp_path):
    """Jigsaw's images: the object covers the middle and none of the corners, and the class is the
    shape (a ring's middle is background again; a plus covers the middle but not its diagonals)."""
    media = generate_media(tmp_path / "objects", num_images=24, num_videos=0, num_classes=6, num_corrupt=0,
                           image_long_side_px=(160, 200), image_scene="one_object")
    rows = load_labels(media.root, "image").to_pylist()
    assert sorted({row["class_name"] for row in rows}) == sorted(IMAGE_OBJECT_CLASS_NAMES)
    for row in rows:
        pixels = np.asarray(upright(media.media_root / row["source"]).convert("RGB"), dtype=np.float64)
        height, width = pixels.shape[:2]
        corners = np.stack([pixels[4, 4], pixels[4, -5], pixels[-5, 4], pixels[-5, -5]])
        background = np.median(corners, axis=0)

        def differs(y: float, x: float) -> bool:  # a 5x5 patch's mean against the background (noise, shading)
            patch = pixels[int(y * height) - 2:int(y * height) + 3, int(x * width) - 2:int(x * width) + 3]
            return np.abs(patch.reshape(-1, 3).mean(0) - background).max() > 40

        name = row["class_name"]
        centre_is_object = name != "ring"
        assert differs(0.5, 0.5) == centre_is_object, (row["source"], name)
        assert not any(differs(y, x) for y, x in ((0.06, 0.06), (0.06, 0.94), (0.94, 0.06), (0.94, 0.94))), row["source"]
        if name in ("disc", "square"):  # solid: 12% of the short side off the middle (at most 8% off-centre)
            step = 0.12 * min(height, width)
            assert differs(0.5 - step / height, 0.5) if height <= width else differs(0.5, 0.5 - step / width), \
                (row["source"], name)


# ---------------------------------------------------------------- videos and their sound


def test_videos_decode_at_the_stated_size_rate_length_and_audio(synthetic_media):
    rows = load_labels(synthetic_media.root, "video").to_pylist()
    assert {row["has_audio"] for row in rows} == {True, False}
    for row in rows:
        with av.open(str(synthetic_media.media_root / row["source"])) as container:
            video = container.streams.video[0]
            assert video.codec_context.name == "h264"
            assert float(video.average_rate) == row["fps"]
            frames = list(container.decode(video))
        assert len(frames) == row["num_frames"]
        assert (frames[0].width, frames[0].height) == (row["width"], row["height"])
        assert 1.0 <= row["duration_s"] <= 1.5 + 1 / row["fps"]
        assert row["duration_s"] == pytest.approx(row["num_frames"] / row["fps"])
        last_frame_s = float(frames[-1].pts * video.time_base)
        assert last_frame_s == pytest.approx(row["duration_s"] - 1 / row["fps"], abs=1e-3)
        with av.open(str(synthetic_media.media_root / row["source"])) as container:
            assert len(container.streams.audio) == int(row["has_audio"]), row["source"]
        if row["has_audio"]:
            samples, rate_hz = decode_audio(synthetic_media.media_root / row["source"])
            assert rate_hz == row["audio_sample_rate_hz"]
            # AAC adds at most one frame (1024 samples) of padding
            assert abs(len(samples) / rate_hz - row["duration_s"]) <= 1100 / rate_hz


def test_audio_pitch_follows_the_class(synthetic_media):
    rows = [row for row in load_labels(synthetic_media.root, "video").to_pylist() if row["has_audio"]]
    peaks = {}
    for row in rows:
        samples, rate_hz = decode_audio(synthetic_media.media_root / row["source"])
        peak_hz = dominant_frequency_hz(samples, rate_hz)
        assert semitones(peak_hz, tone_frequency_hz(row["label"])) <= TONE_HEIGHT_BEND_SEMITONES + 0.3, row
        peaks[row["label"]] = peak_hz
    assert len(peaks) >= 2
    ordered = [peaks[label] for label in sorted(peaks)]
    assert all(high > low * 2 ** (2.5 / 12) for low, high in zip(ordered, ordered[1:]))  # clearly apart


def test_audio_clicks_when_the_object_bounces(synthetic_media):
    rows = [row for row in load_labels(synthetic_media.root, "video").to_pylist() if row["has_audio"]]
    checked = 0
    for row in rows:
        samples, rate_hz = decode_audio(synthetic_media.media_root / row["source"])
        # the tone is below 2.5 kHz: what is above 6 kHz is clicks (and faint noise)
        spectrum = np.fft.rfft(samples)
        spectrum[np.fft.rfftfreq(len(samples), 1 / rate_hz) < 6000] = 0
        hiss = np.fft.irfft(spectrum, len(samples)) ** 2
        window = int(0.01 * rate_hz)
        energy = np.convolve(hiss, np.ones(window), "same")
        quiet = np.median(energy)
        # the audio starting and stopping are clicks too: leave 20 ms at each end of the sound out
        near_bounce = np.zeros(len(samples), bool)
        near_bounce[: 2 * window] = near_bounce[int(row["duration_s"] * rate_hz) - 2 * window :] = True
        for bounce_s in row["bounce_times_s"]:
            start = int(bounce_s * rate_hz)
            near_bounce[max(0, start - 2 * window) : start + 3 * window] = True
            assert energy[start : start + window].max() > 20 * quiet, (row["source"], bounce_s)
            checked += 1
        assert energy[~near_bounce].max() < 5 * quiet, row["source"]
    assert checked >= 2


# ---------------------------------------------------------------- corrupt inputs


def test_corrupt_files_really_fail_to_decode(synthetic_media):
    rejects = load_expected_rejects(synthetic_media.root).to_pylist()
    assert {row["kind"] for row in rejects} == set(CORRUPT_KINDS)
    for row in rejects:
        path = synthetic_media.media_root / row["source"]
        if row["modality"] == "image":
            with pytest.raises(OSError):  # UnidentifiedImageError is an OSError too
                Image.open(path).load()
        else:
            with pytest.raises(av.error.FFmpegError):
                with av.open(str(path)) as container:
                    list(container.decode(video=0))
    assert (synthetic_media.media_root / next(r["source"] for r in rejects if r["kind"] == "empty_file")).stat().st_size == 0


# ---------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_classes=9), "num_classes"),
        (dict(num_images=-1), "num_images"),
        (dict(video_sizes=((161, 120),)), "161x120"),
        (dict(video_seconds=(2.0, 1.0)), "video_seconds"),
        (dict(audio_sample_rate_hz=12345), "12345"),
        (dict(image_scene="collage"), "image_scene"),
        (dict(image_scene="one_object", num_classes=7), "one_object"),
    ],
)
def test_bad_config_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**kwargs)


def test_refuses_a_folder_that_has_files(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        generate_media(tmp_path, **TINY)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_load_labels_names_a_folder_that_was_not_generated(tmp_path):
    with pytest.raises(FileNotFoundError, match="generate_media"):
        load_labels(tmp_path)


def test_bounce_flash_marks_the_frames_after_each_bounce_and_whitens_the_object():
    import numpy as np

    from mmssl.data.synthetic import flash_frames, object_track, render_frames

    fps, flash_s = 24, 0.125
    rng = np.random.default_rng(5)
    track = object_track(3, 160, 120, 96, fps, rng, scale=(0.24, 0.3))
    assert track.bounce_times_s and 0.24 * 120 <= track.radius_px <= 0.3 * 120
    flashing = flash_frames(track, fps, flash_s)
    times = np.arange(96) / fps
    for i, t in enumerate(times):
        assert flashing[i] == any(b <= t < b + flash_s for b in track.bounce_times_s)
    frames = render_frames(3, track, 160, 120, rng, flashing, colours="hue_only")
    lit, unlit = int(np.flatnonzero(flashing)[0]), int(np.flatnonzero(~flashing)[0])
    for i, expect_white in ((lit, True), (unlit, False)):
        x, y = track.centers_px[i]
        # class 3 is a ring: sample its band, halfway between the hole (0.55 r) and the rim
        px = frames[i, int(round(y)), int(round(x + 0.78 * track.radius_px))].astype(int)
        assert (px.min() > 230) == expect_white, (i, px)
    assert not flash_frames(track, fps, 0.0).any()
