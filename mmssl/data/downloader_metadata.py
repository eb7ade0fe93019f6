"""What img2dataset and video2dataset put beside a sample's media member, as manifest fields.

Both write, per sample key, the media (`.jpg` / `.mp4`), the caption as `.txt` and a `.json` whose
top level holds at least `url` and `key` (img2dataset adds the stored `width` and `height`, the
`original_width` / `original_height`, `exif`, `status`...). The caption is the text such data sets
exist for, and the json is the only link back to the web page: both are kept, per manifest index, in
the manifest columns `caption`, `source_key`, `source_width`, `source_height` and `source_json` (the
member verbatim, so fields not named here are not lost). The url becomes the row's `source`.
"""

from __future__ import annotations

import json

INT32_MAX = 2**31 - 1


def downloader_metadata(tar_key: str, members: dict[str, bytes]) -> tuple[str | None, dict]:
    """(url or None, manifest fields) of one webdataset sample; odd or absent members give nulls."""
    text = _utf8(members["json"]) if "json" in members else None
    metadata = _json_object(text)
    fields = {
        "caption": _utf8(members["txt"]) if "txt" in members else None,
        "source_key": _downloader_key(metadata.get("key")) or tar_key,
        "source_width": _dimension(metadata.get("width")),
        "source_height": _dimension(metadata.get("height")),
        "source_json": text if metadata else None,
    }
    url = metadata.get("url")
    return (_storable(url) if isinstance(url, str) and url else None), fields


def _utf8(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _json_object(text: str | None) -> dict:
    try:
        parsed = json.loads(text) if text is not None else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _downloader_key(value) -> str | None:
    """The json's "key" (a string, or a number some writers use) when it is storable text."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return _storable(str(value))
    return None


def _storable(text: str) -> str | None:
    """`text` when parquet can store it (json escapes can make lone surrogates), else None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def _dimension(value) -> int | None:
    """A width or height in px, when it is one that fits the manifest's int32 column."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= INT32_MAX:
        return value
    return None
