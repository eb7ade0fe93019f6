"""YFCC100M metadata rows (`yfcc100m_dataset`, tab-separated) to the files they name under a media root.

Layouts seen in the wild, all with the photo/video marker (0 = photo, 1 = video) as the last field:
  23 fields: the original Webscope file: id, user nsid, nickname, date taken, date uploaded, device,
             title, description, user tags, machine tags, longitude, latitude, accuracy, page URL,
             download URL, license name, license URL, server, farm, secret, secret original,
             extension, marker;
  24 fields: the same with a line number prepended;
  25 fields: the AWS multimedia-commons file: line number, id, md5 hash, then the 22 fields after id.
Counting from the end the fields agree, so the layout is told apart by the number of fields.
"""

from __future__ import annotations

import bz2
import io
import gzip
import os
import posixpath
import string
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterator
from urllib.parse import urlparse

DEFAULT_PATH_TEMPLATE = "{id}.{ext}"
TEMPLATE_FIELDS = ("id", "ext", "media", "marker", "hash", "hash_a", "hash_b", "url_basename", "line")
TEMPLATE_HELP = (
    "How a metadata row maps to a file under --media-root: a Python format string over the fields "
    "{id} (photo/video id), {ext} (original extension), {media} ('photo' or 'video'), {marker} (0/1), "
    "{url_basename} (last part of the download URL, e.g. 1234_abcd.jpg), {line} (1-based line number) "
    "and, for the 25-field AWS file, {hash} with {hash_a}={hash[0:3]} and {hash_b}={hash[3:6]}. "
    "Default '{id}.{ext}'; the AWS bucket layout is 'data/images/{hash_a}/{hash_b}/{hash}.jpg'."
)


@dataclass(frozen=True)
class YfccRow:
    line: int  # 1-based line number in the metadata file
    fields: dict[str, str]  # the TEMPLATE_FIELDS of this row


def check_path_template(template: str) -> None:
    """Refuse a template naming unknown fields before the run starts, not at row 40 million."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = sorted(name for name in names if name not in TEMPLATE_FIELDS)
    if unknown or not names:
        raise ValueError(
            f"--yfcc-path-template {template!r}: unknown field(s) {unknown or 'none given'}; "
            f"use some of {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
        )


def parse_row(line_number: int, text: str) -> YfccRow:
    """Parse one metadata line; raises ValueError naming the line when it is not a YFCC row."""
    parts = text.rstrip("\r\n").split("\t")
    if len(parts) not in (23, 24, 25):
        raise ValueError(f"malformed YFCC row: {len(parts)} tab-separated fields, expected 23, 24 or 25")
    marker = parts[-1].strip()
    if marker not in ("0", "1"):
        raise ValueError(f"malformed YFCC row: photo/video marker is {marker!r}, expected 0 or 1")
    photo_id = parts[0] if len(parts) == 23 else parts[1]
    photo_hash = parts[2] if len(parts) == 25 else ""
    url_path = urlparse(parts[-9]).path.rstrip("/")
    fields = {
        "id": photo_id.strip(),
        "ext": parts[-2].strip() or ("mp4" if marker == "1" else "jpg"),
        "media": "video" if marker == "1" else "photo",
        "marker": marker,
        "hash": photo_hash,
        "hash_a": photo_hash[0:3],
        "hash_b": photo_hash[3:6],
        "url_basename": PurePosixPath(url_path).name,
        "line": str(line_number),
    }
    if not fields["id"]:
        raise ValueError("malformed YFCC row: empty photo/video id")
    return YfccRow(line_number, fields)


def row_path(row: YfccRow, media_root: str, template: str) -> str:
    """The file a row names, inside `media_root`; ValueError when the template needs a field this row
    lacks, or when the row's fields would lead outside the media root (an id like `../x`, `/etc/x`)."""
    relative = template.format(**row.fields)
    if not relative or relative.endswith("/") or any(not row.fields[f] for f in _used_fields(template)):
        raise ValueError(f"YFCC row has no value for a field of path template {template!r}")
    normal = posixpath.normpath(relative)
    if posixpath.isabs(normal) or normal == ".." or normal.startswith("../") or "\0" in normal:
        raise ValueError(f"YFCC row names {relative!r}, a path outside the media root; only files under it are read")
    if "://" in media_root:  # a store URI: the path goes before its query (endpoint options)
        base, _, query = media_root.partition("?")
        return f"{base.rstrip('/')}/{normal}" + (f"?{query}" if query else "")
    return os.path.join(media_root, normal)


def _used_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def iter_lines(metadata_path: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) streamed from a plain, .bz2 or .gz metadata file, on local disk or on an
    object store (a URI: pyarrow's stream decompresses by the extension); blank lines skipped."""
    if "://" in metadata_path:
        from mmssl.data.store import uri_file

        filesystem, path = uri_file(metadata_path)
        lines = io.TextIOWrapper(filesystem.open_input_stream(path), encoding="utf-8", errors="replace", newline="\n")
    else:
        opener = {".bz2": bz2.open, ".gz": gzip.open}.get(os.path.splitext(metadata_path)[1], open)
        lines = opener(metadata_path, "rt", encoding="utf-8", errors="replace", newline="\n")
    with lines:
        for line_number, text in enumerate(lines, start=1):
            if text.strip():
                yield line_number, text
