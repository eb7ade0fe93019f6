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
