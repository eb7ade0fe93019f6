"""Input enumeration: deterministic order, webdataset samples grouped by key (brace-named shards, their
captions and json kept), bad or missing tars refused."""

import json

import pytest

from fixtures_ingest import encode_image, quadrant_pixels, write_tar
from mmssl.data.sources import FolderSource, WebdatasetSource, YfccSource, iter_tar_samples


def test_folder_lists_every_file_in_sorted_order(tmp_path):
    for name in ["b/z.jpg", "b/a", "a/y.PNG", "top.mp4", ".hidden", "b/c/deep.webp"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    sources = [item.source[len(str(tmp_path)) + 1 :] for item in FolderSource(str(tmp_path)).items()]
    assert sources == [".hidden", "top.mp4", "a/y.PNG", "b/a", "b/z.jpg", "b/c/deep.webp"]
    assert all(item.path == item.source and item.rejection is None for item in FolderSource(str(tmp_path)).items())


def test_folder_must_exist(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        FolderSource(str(tmp_path / "nope"))


def test_webdataset_samples_grouped_by_key(tmp_path):
    jpeg = encode_image(quadrant_pixels(), "JPEG")
    tar = write_tar(tmp_path / "00000.tar", [
        ("000000001.jpg", jpeg), ("000000001.json", json.dumps({"url": "http://x/1.jpg"}).encode()),
        ("000000001.txt", b"a caption"),
        ("sub/000000002.png", b"png-bytes"), ("sub/000000002.txt", b"caption"),
        ("000000003.txt", b"only text"), ("000000003.json", b"{not json"),
        ("000000004.mp4", b"video-bytes"), ("000000004.jpg", b"thumbnail"),
    ])
    items = list(WebdatasetSource(str(tmp_path / "*.tar")).items())
    assert [item.source for item in items] == ["http://x/1.jpg", f"{tar}:sub/000000002", f"{tar}:000000003", f"{tar}:000000004"]
    assert items[0].data == jpeg and items[1].data == b"png-bytes"
    assert items[2].rejection == ("enumerate", "no media member (members: json, txt)")
    assert items[3].data == b"video-bytes"  # a video sample's thumbnail is not the sample


def test_bad_tar_is_one_rejection(tmp_path):
    (tmp_path / "bad.tar").write_bytes(b"this is not a tar file" * 40)
    (items,) = list(iter_tar_samples(str(tmp_path / "bad.tar")))
    assert items.rejection[0] == "read" and items.rejection[1].startswith("bad tar file: unreadable at its start")


def test_truncated_tar_keeps_complete_samples_and_refuses_the_rest(tmp_path):
    members = [(f"{i:04d}.jpg", bytes([i]) * 3000) for i in range(4)]
    full = write_tar(tmp_path / "full.tar", members).read_bytes()
    (tmp_path / "cut.tar").write_bytes(full[: 512 * 15 + 700])  # inside the 3rd member's data
    items = list(iter_tar_samples(str(tmp_path / "cut.tar")))
    assert [item.data[:1] for item in items[:2]] == [b"\x00", b"\x01"]
    assert items[-1].source == str(tmp_path / "cut.tar")
    assert items[-1].rejection[1].startswith("bad tar file: unreadable after 2 samples")


def test_webdataset_glob_must_match(tmp_path):
    with pytest.raises(ValueError, match="matches no files"):
        WebdatasetSource(str(tmp_path / "*.tar"))


def _photo_keys(items) -> list[str]:
    return [item.source_fields["source_key"] for item in items]


def test_webdataset_brace_range_reads_the_shards_in_order_with_their_metadata(downloader_shards):
    source = WebdatasetSource(f"{downloader_shards}/{{00000..00002}}.tar")
    items = list(source.items())
    assert _photo_keys(items) == ["000000000", "000000001", "000010000", "000010001", "000020000"]
    assert [item.source for item in items][:2] == ["https://img.example.com/000000000.jpg",
                                                   "https://img.example.com/000000001.jpg"]
    photo, video = items[3].source_fields, items[4].source_fields
    assert (photo["caption"], photo["source_width"], photo["source_height"]) == ("photo 1-1, ünïcode", 64, 48)
    assert json.loads(photo["source_json"])["original_width"] == 256
    assert items[4].data[4:8] == b"ftyp" and video["caption"] == "a bouncing bar"
    assert source.spec()["tars"] == [str(downloader_shards / f"{n:05d}.tar") for n in range(3)]
    assert source.spec()["missing"] == []


def test_webdataset_brace_list_reads_only_the_listed_shards(downloader_shards):
    items = list(WebdatasetSource(f"{downloader_shards}/{{00002,00000}}.tar").items())
    assert _photo_keys(items) == ["000020000", "000000000", "000000001"]  # the list's order
    nested = list(WebdatasetSource(f"{downloader_shards}/000{{0{{1..1}},02}}.tar").items())
    assert _photo_keys(nested) == ["000010000", "000010001", "000020000"]


def test_webdataset_pattern_naming_no_existing_shard_fails_at_once(tmp_path):
    pattern = f"{tmp_path}/{{00000..00999}}.tar"
    with pytest.raises(ValueError) as refusal:
        WebdatasetSource(pattern)
    message = str(refusal.value)
    assert f"--webdataset {pattern!r} matches no files" in message
    assert f"expands to 1000 names (first '{tmp_path}/00000.tar')" in message
    with pytest.raises(ValueError, match="unbalanced braces"):
        WebdatasetSource(f"{tmp_path}/{{00000..00002.tar")


def test_a_missing_shard_in_the_range_is_one_rejection_in_its_place(downloader_shards):
    source = WebdatasetSource(f"{downloader_shards}/{{00001..00003}}.tar")  # 00003 was never written
    items = list(source.items())
    missing = str(downloader_shards / "00003.tar")
    assert [item.source for item in items][-1] == missing
    assert items[-1].rejection == ("read", "shard missing: no such file (named by --webdataset "
                                           f"'{downloader_shards}/{{00001..00003}}.tar')")
    assert _photo_keys(items[:-1]) == ["000010000", "000010001", "000020000"]
    assert source.spec()["missing"] == [missing]
    assert list(source.items(start=3)) == items[3:]  # a resume counts the missing shard as consumed


def test_yfcc_items_name_files_under_media_root(tmp_path):
    row = ["10", "u@N00", "nick", "2012-01-01", "1331840483", "cam", "t", "d", "tags", "", "", "", "",
           "http://page", "http://farm1.staticflickr.com/1/10_abc.jpg", "lic", "http://lic", "1", "1", "abc", "def",
           "jpg", "0"]
    metadata = tmp_path / "yfcc100m_dataset"
    metadata.write_text("\t".join(row) + "\n" + "garbage line\n")
    items = list(YfccSource(str(metadata), str(tmp_path), "{url_basename}").items())
    assert items[0].path == str(tmp_path / "10_abc.jpg") and items[0].rejection is None
    assert items[1].source == f"{metadata}:2" and items[1].rejection[0] == "enumerate"
    assert "malformed YFCC row" in items[1].rejection[1]


def test_items_start_skips_exactly_the_consumed_prefix(tmp_path):
    for i in range(5):
        (tmp_path / f"{i}.jpg").write_bytes(b"x")
    source = FolderSource(str(tmp_path))
    assert list(source.items(start=3)) == list(source.items())[3:]
    tar = write_tar(tmp_path / "s.tar", [(f"{i}.jpg", bytes([i])) for i in range(4)])
    wds = WebdatasetSource(str(tar))
    assert [item.data for item in wds.items(start=1)] == [b"\x01", b"\x02", b"\x03"]
    lines = "\n".join(["bad row"] * 2 + ["\t".join(["1"] * 22 + ["0"])] * 2)
    (tmp_path / "meta").write_text(lines)
    items = list(YfccSource(str(tmp_path / "meta"), str(tmp_path)).items(start=1))
    assert [item.rejection is None for item in items] == [False, True, True]


def test_a_member_over_the_size_bound_is_refused_unread(tmp_path, monkeypatch):
    import tarfile

    tar = write_tar(tmp_path / "00000.tar", [
        ("a.jpg", b"small"), ("b.json", json.dumps({"url": "http://x/b.mp4"}).encode()), ("b.mp4", b"v" * 5000),
        ("c.jpg", b"also small"),
    ])
    extracted, real_extractfile = [], tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile",
                        lambda self, member: extracted.append(member.name) or real_extractfile(self, member))
    items = list(WebdatasetSource(str(tmp_path / "*.tar"), max_member_bytes=1000).items())
    assert [(item.source, item.data) for item in items] == [
        (f"{tar}:a", b"small"), ("http://x/b.mp4", None), (f"{tar}:c", b"also small")]
    stage, reason = items[1].rejection
    assert stage == "read" and reason.startswith("member over the size bound: b.mp4 is 5000 bytes, the bound 1000")
    assert "b.mp4" not in extracted and extracted == ["a.jpg", "b.json", "c.jpg"]  # its bytes never left the tar
