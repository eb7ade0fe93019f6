"""Content sniffing: images, videos and sound files are told apart by bytes, whatever the file is called."""

import pytest

from fixtures_ingest import encode_image, make_audio_only_mp4, make_video, quadrant_pixels
from mmssl.data.media_kind import SNIFF_BYTES, sniff_media_kind
from mmssl.data.rejection import Rejection


@pytest.mark.parametrize("fmt, container", [("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif"), ("BMP", "bmp"),
                                            ("TIFF", "tiff"), ("WEBP", "webp")])
def test_images(fmt, container):
    assert sniff_media_kind(encode_image(quadrant_pixels(), fmt)[:SNIFF_BYTES]) == ("image", container)


def test_videos():
    assert sniff_media_kind(make_video(seconds=0.2)[:SNIFF_BYTES]) == ("video", "iso-bmff")
    assert sniff_media_kind(b"\x1a\x45\xdf\xa3" + b"\x00" * 60)[0] == "video"  # matroska / webm
    assert sniff_media_kind(b"RIFF\x00\x00\x00\x00AVI LIST")[0] == "video"


def test_audio_only_mp4_goes_to_the_video_probe():
    assert sniff_media_kind(make_audio_only_mp4(0.2)[:SNIFF_BYTES])[0] == "video"  # the probe finds no picture


@pytest.mark.parametrize("head, container", [
    (b"fLaC\x00\x00\x00\x22", "flac"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
    (b"\xff\xfb\x90\x64" + bytes(16), "mpeg-audio"),  # an mp3 frame with no ID3 tag
    (b"\xff\xf1\x50\x80" + bytes(16), "mpeg-audio"),  # ADTS AAC
])
def test_sound_files(head, container):
    assert sniff_media_kind(head) == ("audio", container)


@pytest.mark.parametrize("head, reason", [
    (b"", "empty file"),
    (b"hello world, plain text", "not a media file"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "unsupported image format (heic"),
])
def test_refusals(head, reason):
    with pytest.raises(Rejection) as refusal:
        sniff_media_kind(head)
    assert refusal.value.reason.startswith(reason)
