"""One input -> accepted members/fields or a refusal with stage and reason; nothing raises."""

import io

import av
import pytest

from fixtures_ingest import mixed_media
from mmssl.data import prepare_worker
from mmssl.data.normalize_image import ImageConfig
from mmssl.data.normalize_video import VideoConfig
from mmssl.data.prepare_worker import process_batch, process_item
from mmssl.data.sources import InputItem

CONFIGS = (ImageConfig(), VideoConfig())


@pytest.fixture(scope="module")
def outcomes():
    media = mixed_media()
    items = [InputItem(source=name, data=data) for name, (data, _) in media.items()]
    return {o.source: (o, media[o.source][1]) for o in process_batch(items, *CONFIGS)}


def test_every_input_gets_its_expected_outcome(outcomes):
    for source, (outcome, expected) in outcomes.items():
        if expected in ("image", "video", "audio"):
            assert outcome.accepted and outcome.fields["modality"] == expected, (source, outcome.reason)
        else:
            assert not outcome.accepted and outcome.reason.startswith(expected), (source, outcome.reason)


def test_image_members_and_fields(outcomes):
    outcome, _ = outcomes["b/no_extension"]  # WebP without an extension: found by content
    assert set(outcome.members) == {"jpg"} and outcome.members["jpg"][:3] == b"\xff\xd8\xff"
    assert outcome.fields == {"modality": "image", "width": 64, "height": 48, "source": "b/no_extension"}


def test_video_members_and_fields(outcomes):
    with_audio, _ = outcomes["b/clip.mp4"]
    assert set(with_audio.members) == {"mp4", "flac"} and with_audio.members["flac"][:4] == b"fLaC"
    assert with_audio.fields["has_audio"] is True and with_audio.fields["audio_sample_rate_hz"] == 16_000
    assert with_audio.fields["num_frames"] == 24 and with_audio.fields["fps"] == 24.0
    with av.open(io.BytesIO(with_audio.members["mp4"])) as container:
        assert not container.streams.audio  # audio lives only in the FLAC member
    silent, _ = outcomes["b/silent.mov"]
    assert set(silent.members) == {"mp4"} and silent.fields["has_audio"] is False


@pytest.mark.parametrize("name", ["c/song.m4a", "d/birdsong.wav", "d/chirp"])
def test_sound_files_become_audio_only_samples(outcomes, name):
    """An m4a (found to have no picture by the video probe), a WAV and an mp3 with no extension."""
    outcome, _ = outcomes[name]
    assert set(outcome.members) == {"flac"} and outcome.members["flac"][:4] == b"fLaC"
    assert outcome.fields["modality"] == "audio" and outcome.fields["has_audio"] is True
    assert outcome.fields["audio_sample_rate_hz"] == 16_000 and outcome.fields["duration_s"] > 0.9


def test_missing_file_is_refused(tmp_path):
    outcome = process_item(InputItem(source="x", path=str(tmp_path / "gone.jpg")), *CONFIGS)
    assert (outcome.stage, outcome.reason) == ("read", "file missing")


def test_enumeration_refusal_passes_through():
    outcome = process_item(InputItem(source="meta:3", rejection=("enumerate", "malformed YFCC row: 3 fields")), *CONFIGS)
    assert (outcome.source, outcome.stage, outcome.reason) == ("meta:3", "enumerate", "malformed YFCC row: 3 fields")


def test_unexpected_library_failure_is_a_refusal_not_a_crash(monkeypatch, outcomes):
    def explode(data, config):
        raise RuntimeError("libjpeg exploded")

    monkeypatch.setattr(prepare_worker, "normalize_image", explode)
    data = mixed_media()["a/photo.jpg"][0]
    outcome = process_item(InputItem(source="p.jpg", data=data), *CONFIGS)
    assert (outcome.stage, outcome.reason) == ("normalize", "internal error: RuntimeError: libjpeg exploded")


def test_oversized_image_file_is_refused_unread(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 4096)
    outcome = process_item(InputItem(source="huge", path=str(path)), ImageConfig(max_file_bytes=2048), VideoConfig())
    assert (outcome.stage, outcome.reason) == ("read", "absurd image file size: 4104 bytes (bound 2048)")
