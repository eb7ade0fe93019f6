"""Shards as img2dataset and video2dataset write them, for the `--webdataset` tests.

Both tools write through webdataset's TarWriter: shards `00000.tar`, `00001.tar`...; per sample the
members `KEY.EXT` in sorted extension order, USTAR headers, mode 0444, owner and group `bigdata`,
text as UTF-8. The key is the shard number followed by the sample's place in it; the `.json`
holds the input row (url, caption) plus the tool's own fields, img2dataset's pretty-printed.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from fixtures_ingest import encode_image, make_video, quadrant_pixels

TAR_MTIME = 1_700_000_000


def write_downloader_shard(path: Path, samples: list[tuple[str, dict[str, bytes]]]) -> Path:
    """`samples` as (key, {ext: payload}) into the tar at `path`, written the TarWriter way."""
    with tarfile.open(path, "w|", format=tarfile.USTAR_FORMAT) as tar:
        for key, members in samples:
            for ext in sorted(members):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime, info.mode = len(members[ext]), TAR_MTIME, 0o444
                info.uname = info.gname = "bigdata"
                tar.addfile(info, io.BytesIO(members[ext]))
    return path


def img2dataset_sample(shard: int, place: int, caption: str, jpeg: bytes, size: tuple[int, int]) -> tuple[str, dict]:
    """One photo sample: `.jpg`, `.txt` caption, `.json` with the fields img2dataset stores."""
    key = f"{shard:05d}{place:04d}"
    metadata = {"url": f"https://img.example.com/{key}.jpg", "caption": caption, "key": key, "status": "success",
                "error_message": None, "width": size[0], "height": size[1], "original_width": size[0] * 4,
                "original_height": size[1] * 4, "exif": "{}", "sha256": f"{shard:064x}"}
    return key, {"jpg": jpeg, "txt": caption.encode(), "json": json.dumps(metadata, indent=4).encode()}


def video2dataset_sample(shard: int, place: int, caption: str, mp4: bytes) -> tuple[str, dict]:
    """One video sample: `.mp4`, `.txt` caption, `.json` with the input row and the tool's status."""
    key = f"{shard:05d}{place:04d}"
    metadata = {"url": f"https://video.example.com/watch?v={key}", "caption": caption, "key": key,
                "status": "success", "error_message": None, "yt_meta_dict": None}
    return key, {"mp4": mp4, "txt": caption.encode(), "json": json.dumps(metadata).encode()}


@pytest.fixture(scope="session")
def downloader_shards(tmp_path_factory) -> Path:
    """A folder of three shards: 00000 and 00001 from img2dataset (2 photos each), 00002 from
    video2dataset (one short video), as `{00000..00002}.tar` names them."""
    root = tmp_path_factory.mktemp("wds")
    jpeg = encode_image(quadrant_pixels(64, 48), "JPEG")
    for shard in (0, 1):
        samples = [img2dataset_sample(shard, place, f"photo {shard}-{place}, ünïcode", jpeg, (64, 48))
                   for place in range(2)]
        write_downloader_shard(root / f"{shard:05d}.tar", samples)
    write_downloader_shard(root / "00002.tar", [video2dataset_sample(2, 0, "a bouncing bar", make_video(seconds=0.5))])
    return root
