"""Member checks: good members pass both checks; truncated and garbage members fail with a reason."""

import io
import os

import pytest
from PIL import Image

from fixtures_media import checker_image
from mmssl.data.member_checks import FULL_CHECKS, QUICK_CHECKS


@pytest.fixture(scope="module")
def good_members(mixed_dataset):
    _, samples = mixed_dataset
    return {"jpg": samples[0]["jpg"], "mp4": samples[20]["mp4"], "flac": samples[20]["flac"]}


@pytest.mark.parametrize("ext", ["jpg", "mp4", "flac"])
def test_good_members_pass(good_members, ext):
    assert QUICK_CHECKS[ext](good_members[ext]) is None
    assert FULL_CHECKS[ext](good_members[ext]) is None


@pytest.mark.parametrize("ext, reason", [("jpg", "truncated JPEG"), ("mp4", "truncated MP4"), ("flac", "")])
def test_truncated_members_fail(good_members, ext, reason):
    cut = good_members[ext][: len(good_members[ext]) * 2 // 3]
    assert reason in (FULL_CHECKS[ext](cut) or "fails to be found")
    if ext != "flac":  # a cut FLAC keeps its header: only decoding finds it
        assert reason in (QUICK_CHECKS[ext](cut) or "not found")


def test_garbage_is_refused_by_every_check():
    for ext in ("jpg", "mp4", "flac"):
        junk = os.urandom(2000)
        assert QUICK_CHECKS[ext](junk) is not None and FULL_CHECKS[ext](junk) is not None


def test_jpeg_with_intact_markers_passes_quick_but_not_full():
    buf = io.BytesIO()
    Image.fromarray(checker_image(1, 64, 64)).save(buf, "JPEG")
    good = buf.getvalue()
    broken = good[:2] + bytes(range(256)) + good[-2:]
    assert QUICK_CHECKS["jpg"](broken) is None
    assert FULL_CHECKS["jpg"](broken).startswith("JPEG does not decode")


def test_flac_with_garbage_audio_frames_fails_the_full_check(mixed_dataset):
    _, samples = mixed_dataset
    assert QUICK_CHECKS["flac"](samples[25]["flac"]) is None  # its header is intact
    assert FULL_CHECKS["flac"](samples[25]["flac"]) is not None


@pytest.fixture(scope="module")
def sounding_video():
    from fixtures_video import prepared_video

    return prepared_video(72, fps=24, audio_events_s=(0.5, 1.5))


def test_flac_damage_ffmpeg_skips_over_is_caught_by_counting_samples(sounding_video):
    """FFmpeg resyncs past a damaged FLAC frame and decodes the rest without an error (DALI fails on it):
    the full check counts the samples against STREAMINFO's total."""
    from fixtures_damage import overwrite_middle
    from fixtures_video import decoded_audio

    damaged = overwrite_middle(sounding_video.flac, 1500, seed=0)
    assert len(decoded_audio(damaged)[0]) < 48128  # PyAV alone: fewer samples, no error
    assert QUICK_CHECKS["flac"](damaged) is None
    assert FULL_CHECKS["flac"](damaged) == "audio decodes to 44672 samples, STREAMINFO says 48128 (a damaged frame)"


def test_one_flipped_bit_in_a_flac_is_caught_by_its_md5(sounding_video):
    flipped = bytearray(sounding_video.flac)
    flipped[len(flipped) // 2] ^= 0x10
    assert FULL_CHECKS["flac"](sounding_video.flac) is None
    assert FULL_CHECKS["flac"](bytes(flipped)) == "audio does not match its STREAMINFO MD5 (damaged samples)"


def test_mp4_with_noise_in_its_coded_frames_passes_quick_but_not_full(sounding_video):
    from fixtures_damage import mdat_range, overwrite_middle

    damaged = overwrite_middle(sounding_video.mp4, 300, 0, *mdat_range(sounding_video.mp4))
    assert QUICK_CHECKS["mp4"](damaged) is None
    assert FULL_CHECKS["mp4"](damaged) is not None


def test_mp4_with_fewer_frames_than_its_table_lists_fails_the_full_check(sounding_video):
    """A sample table that promises frames the stream does not hold (the plan would ask for them)."""
    import struct

    mp4 = sounding_video.mp4
    at = mp4.index(b"stts") + 4  # version/flags, entry count, then (count, delta) entries
    (count,) = struct.unpack_from(">I", mp4, at + 8)
    inflated = mp4[: at + 8] + struct.pack(">I", count + 5) + mp4[at + 12 :]
    assert QUICK_CHECKS["mp4"](inflated) is None
    assert FULL_CHECKS["mp4"](inflated) == f"video decodes to 72 frames, its sample table lists {72 + 5}"
