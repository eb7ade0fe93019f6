"""What img2dataset / video2dataset put beside a media member becomes manifest fields, odd values null."""

import json

from fixtures_downloaders import img2dataset_sample, video2dataset_sample
from mmssl.data.downloader_metadata import downloader_metadata


def test_an_img2dataset_sample_keeps_caption_key_size_and_its_json_verbatim():
    key, members = img2dataset_sample(3, 7, "a red kite, ünïcode", b"jpeg", (500, 375))
    url, fields = downloader_metadata("tarkey", members)
    assert url == "https://img.example.com/000030007.jpg"
    assert fields == {"caption": "a red kite, ünïcode", "source_key": "000030007", "source_width": 500,
                      "source_height": 375, "source_json": members["json"].decode()}
    assert json.loads(fields["source_json"])["original_width"] == 2000  # fields not named here survive


def test_a_video2dataset_sample_without_sizes_has_null_sizes():
    _, members = video2dataset_sample(0, 1, "a bouncing bar", b"mp4")
    url, fields = downloader_metadata("k", members)
    assert url == "https://video.example.com/watch?v=000000001"
    assert (fields["caption"], fields["source_key"], fields["source_width"], fields["source_height"]) == (
        "a bouncing bar", "000000001", None, None)


def test_without_json_the_tar_key_is_the_key_and_the_rest_is_null():
    assert downloader_metadata("sub/0007", {"jpg": b"x"}) == (None, {
        "caption": None, "source_key": "sub/0007", "source_width": None, "source_height": None, "source_json": None})


def test_odd_values_become_null_rather_than_failing_the_manifest():
    odd = {"url": 5, "key": ["a"], "width": True, "height": 2**31}
    url, fields = downloader_metadata("t", {"json": json.dumps(odd).encode(), "txt": b"\xffcap"})
    assert url is None and fields["source_key"] == "t"
    assert fields["source_width"] is None and fields["source_height"] is None  # a bool, and past int32
    assert fields["caption"] == "\ufffdcap"  # invalid UTF-8 is replaced, not fatal
    lone_surrogate = b'{"key": "\\ud800", "url": "http://x/\\udfff"}'  # legal json, unstorable text
    url, fields = downloader_metadata("t", {"json": lone_surrogate})
    assert url is None and fields["source_key"] == "t"
    assert downloader_metadata("t", {"json": b"[1, 2]"})[1]["source_json"] is None  # not an object
    assert downloader_metadata("t", {"json": b"{not json"})[1]["source_json"] is None
    assert downloader_metadata("t", {"json": b'{"key": 12}'})[1]["source_key"] == "12"
