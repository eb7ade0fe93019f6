"""The three kinds of input, each enumerated lazily in a fixed order as `InputItem`s.

The order is deterministic so a resumed run can skip the first `cursor` items and meet exactly the
inputs it has not yet consumed. Enumeration stays cheap (no decoding, no stat per YFCC row): whether
a file exists, and what it holds, is found out by the workers.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tarfile
import time
from dataclasses import dataclass, field
from typing import Iterator

from mmssl.data import yfcc
from mmssl.data.downloader_metadata import downloader_metadata
from mmssl.data.shard_pattern import expand_braces, shard_names, store_shard_names
from mmssl.data.store import is_uri

VIDEO_EXTENSIONS = ("mp4", "webm", "mkv", "mov", "avi", "m4v", "mpg", "mpeg", "flv", "ts", "3gp", "wmv")
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff")
AUDIO_EXTENSIONS = ("wav", "flac", "mp3", "ogg", "opus", "m4a", "aac")
DEFAULT_MAX_MEMBER_BYTES = 1 << 30  # a webdataset member larger than this is refused unread


@dataclass(frozen=True)
class InputItem:
    """One input: a file to read (`path`), bytes already in hand (`data`), or a refusal decided early."""

    source: str  # how the manifest and rejected.parquet name it
    path: str | None = None
    data: bytes | None = None
    rejection: tuple[str, str] | None = None  # (stage, reason) when enumeration already refused it
    source_fields: dict | None = None  # manifest fields the input came with (a webdataset caption and json)


@dataclass(frozen=True)
class FolderSource:
    """Every regular file under `root` (any names, any extensions), in sorted path order."""

    root: str

    def __post_init__(self):
        if not os.path.isdir(self.root):
            raise ValueError(f"--input {self.root!r} is not a directory; pass the folder holding the media files")

    def spec(self) -> dict:
        return {"type": "folder", "root": os.path.abspath(self.root)}

    def items(self, start: int = 0) -> Iterator[InputItem]:
        """Items from the `start`-th on (a resumed run's cursor)."""
        return itertools.islice(self._all_items(), start, None)

    def _all_items(self) -> Iterator[InputItem]:
        for directory, subdirs, files in os.walk(self.root):
            subdirs.sort()
            for name in sorted(files):
                path = os.path.join(directory, name)
                if os.path.isfile(path) or not os.path.exists(path):  # dangling links: a "file missing" rejection
                    yield InputItem(source=path, path=path)


@dataclass(frozen=True)
class StoreFolderSource:
    """Every object under a store URI (`s3://bucket/prefix`), in sorted key order: FolderSource on a store.
    The workers read each object through the store; the listing is taken whole, once per run."""

    uri: str

    def spec(self) -> dict:
        return {"type": "folder", "root": _without_query(self.uri)}

    def items(self, start: int = 0) -> Iterator[InputItem]:
        return itertools.islice(self._all_items(), start, None)

    def _all_items(self) -> Iterator[InputItem]:
        import pyarrow.fs as pafs

        from mmssl.data.store import check_access, open_location

        location = open_location(self.uri)
        check_access(location)
        selector = pafs.FileSelector(location.root, recursive=True, allow_not_found=True)
        keys = sorted(info.path for info in location.filesystem.get_file_info(selector)
                      if info.type == pafs.FileType.File)
        if not keys:
            raise ValueError(f"--input {self.spec()['root']} holds no objects; pass the prefix holding the media files")
        base, _, query = self.uri.partition("?")
        for key in keys:
            relative = key[len(location.root):].lstrip("/")
            source = f"{base.rstrip('/')}/{relative}"
            yield InputItem(source=source, path=source + (f"?{query}" if query else ""))


@dataclass(frozen=True)
class YfccSource:
    """Rows of a YFCC100M metadata file, each naming a file under `media_root` via `path_template`."""

    metadata_path: str
    media_root: str
    path_template: str = yfcc.DEFAULT_PATH_TEMPLATE

    def __post_init__(self):
        if not _is_file(self.metadata_path):
            raise ValueError(f"--yfcc-metadata {self.metadata_path!r} is not a file; pass the yfcc100m_dataset file")
        if not _is_directory(self.media_root):
            raise ValueError(f"--media-root {self.media_root!r} is not a directory; pass where the media were downloaded")
        yfcc.check_path_template(self.path_template)

    def spec(self) -> dict:
        return {
            "type": "yfcc",
            "metadata": _journal_name(self.metadata_path),
            "media_root": _journal_name(self.media_root),
            "path_template": self.path_template,
        }

    def items(self, start: int = 0) -> Iterator[InputItem]:
        """Items from the `start`-th on; skipped rows are not even parsed (cheap at 100M rows). Either file
        may be on an object store (a URI): the metadata is streamed, the media are read by the workers."""
        shown_metadata = _without_query(self.metadata_path)
        for line_number, text in itertools.islice(yfcc.iter_lines(self.metadata_path), start, None):
            try:
                path = yfcc.row_path(yfcc.parse_row(line_number, text), self.media_root, self.path_template)
            except ValueError as err:
                yield InputItem(source=f"{shown_metadata}:{line_number}", rejection=("enumerate", str(err)))
                continue
            yield InputItem(source=_without_query(path), path=path)


def _without_query(location: str) -> str:
    """A store URI without its query (endpoint options), as the manifest names inputs; a path unchanged."""
    return location.split("?", 1)[0] if is_uri(location) else location


def _journal_name(location: str) -> str:
    """How a run's journal and spec name an input: a URI without its query, or an absolute path."""
    return _without_query(location) if is_uri(location) else os.path.abspath(location)


def _is_file(location: str) -> bool:
    return _store_entry_is(location, "File") if is_uri(location) else os.path.isfile(location)


def _is_directory(location: str) -> bool:
    """A local directory, or a store prefix holding at least one object."""
    return _store_entry_is(location, "Directory") if is_uri(location) else os.path.isdir(location)


def _store_entry_is(uri: str, kind: str) -> bool:
    """Whether `uri` names a store object ("File") or a prefix with objects under it ("Directory"): one
    request, after refused credentials or a missing bucket are said at once."""
    import pyarrow.fs as pafs

    from mmssl.data.store import check_access, open_location

    found = open_location(uri)
    check_access(found)
    return found.filesystem.get_file_info(found.root).type == getattr(pafs.FileType, kind)


@dataclass(frozen=True)
class WebdatasetSource:
    """Samples of existing webdataset tars (img2dataset / video2dataset output) named by `pattern`.

    `pattern` is webdataset's brace notation and/or a glob (see shard_pattern.py), on local disk or on
    an object store (`s3://bucket/wds/{00000..00999}.tar`: each tar is streamed from the store, never
    copied). A named shard that does not exist is one rejection ("shard missing"), so a gap in a
    numbered set is reported, not fatal; a pattern naming no existing file at all is refused at once.
    A member larger than `max_member_bytes` is never read: its sample is refused from the size in its
    tar header (one 40 GB member must not fill the driver's memory)."""

    pattern: str
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    _named: tuple[tuple[str, bool], ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self):
        named = store_shard_names(self.pattern) if is_uri(self.pattern) else [
            (path, os.path.isfile(path)) for path in shard_names(self.pattern)]
        object.__setattr__(self, "_named", tuple(named))  # listed once: a store answers each listing slowly
        if not self.tar_paths():
            where = "an object on the store" if is_uri(self.pattern) else "an existing file"
            expanded = expand_braces(_without_query(self.pattern))
            raise ValueError(
                f"--webdataset {self.pattern!r} matches no files: it expands to {len(expanded)} "
                f"name{'s' if len(expanded) != 1 else ''} (first {expanded[0]!r}) and none is {where}. "
                "Check the folder and the shard numbers, and quote the pattern so the shell leaves its braces "
                "and wildcards alone, e.g. '/wds/{00000..00999}.tar' or '/wds/*.tar'")
        if self.max_member_bytes < 1:
            raise ValueError(f"--max-member-mb must be positive, got {self.max_member_bytes} bytes")

    def shard_paths(self) -> list[str]:
        """Every shard the pattern names, present or missing, in reading order."""
        return [name for name, _ in self._named]

    def tar_paths(self) -> list[str]:
        return [name for name, exists in self._named if exists]

    def spec(self) -> dict:
        shown = [_journal_name(name) for name, _ in self._named]
        return {"type": "webdataset", "pattern": _without_query(self.pattern),
                "tars": [name for name, (_, exists) in zip(shown, self._named) if exists],
                "missing": [name for name, (_, exists) in zip(shown, self._named) if not exists],
                "max_member_bytes": self.max_member_bytes}

    def items(self, start: int = 0) -> Iterator[InputItem]:
        """Items from the `start`-th on (skipped tars are still read: sample counts are not stored)."""
        every = (item for name, exists in self._named for item in self._shard_items(name, exists))
        return itertools.islice(every, start, None)

    def _shard_items(self, name: str, exists: bool) -> Iterator[InputItem]:
        if exists:
            return iter_tar_samples(name, self.max_member_bytes, _store_opener(name) if is_uri(name) else None)
        why = "no such object on the store" if is_uri(name) else (
            "no such file" if not os.path.exists(name) else "not a regular file")
        return iter([InputItem(source=_without_query(name), rejection=("read", f"shard missing: {why} (named by "
                                                                            f"--webdataset {self.pattern!r})"))])


def _store_opener(uri: str):
    from mmssl.data.store import uri_file

    filesystem, path = uri_file(uri)
    return lambda: filesystem.open_input_stream(path)


def iter_tar_samples(tar_path: str, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
                     open_stream=None) -> Iterator[InputItem]:
    """One item per sample key; a tar that cannot be read to its end adds one rejection for the rest.

    A member over `max_member_bytes` (by its header) is skipped unread and its sample refused. With
    `open_stream` (a tar on a store: a callable opening it anew), a transient error mid-stream (a
    dropped connection, a 5xx) reopens the tar and goes on after the samples already yielded, with
    the store's backoff, so a network hiccup does not cost the rest of the shard."""
    from mmssl.data.store import RetryPolicy, is_transient

    shown, policy, yielded, failures = _without_query(tar_path), RetryPolicy(), 0, 0
    while True:
        try:
            for position, item in enumerate(_tar_items(tar_path, shown, max_member_bytes, open_stream)):
                if position >= yielded:
                    yielded += 1
                    yield item
            return
        except (tarfile.TarError, OSError, EOFError, ValueError) as err:
            failures += 1
            if open_stream is not None and is_transient(err) and failures < policy.attempts:
                time.sleep(policy.delay_s(failures - 1))
                continue
            where = f"after {yielded} samples" if yielded else "at its start"
            yield InputItem(source=shown, rejection=("read", f"bad tar file: unreadable {where} ({err})"))
            return


def _tar_items(tar_path: str, shown: str, max_member_bytes: int, open_stream) -> Iterator[InputItem]:
    key, members, oversized = None, {}, None
    with (open_stream() if open_stream else contextlib.nullcontext()) as stream, \
            (tarfile.open(fileobj=stream, mode="r|*") if open_stream else tarfile.open(tar_path, "r|*")) as tar:
        for member in tar:
            if not member.isfile():
                continue
            member_key, _, ext = _split_member_name(member.name)
            if member_key != key and key is not None:
                yield _sample_item(shown, key, members, oversized)
                members, oversized = {}, None
            key = member_key
            if member.size > max_member_bytes:  # the stream skips its data without keeping it
                oversized = (f"member over the size bound: {member.name} is {member.size} bytes, the bound "
                             f"{max_member_bytes} (raise --max-member-mb to admit it); not read")
                continue
            members[ext.lower()] = tar.extractfile(member).read()
    if key is not None:
        yield _sample_item(shown, key, members, oversized)


def _split_member_name(name: str) -> tuple[str, str, str]:
    """webdataset's rule: the key is the path up to the first dot of the file name."""
    directory, _, basename = name.rpartition("/")
    stem, dot, ext = basename.partition(".")
    return (f"{directory}/{stem}" if directory else stem), dot, ext


def _sample_item(tar_path: str, key: str, members: dict[str, bytes], oversized: str | None) -> InputItem:
    url, fields = downloader_metadata(key, members)
    source = url or f"{tar_path}:{key}"
    if oversized is not None:
        return InputItem(source=source, rejection=("read", oversized))
    for ext in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS + AUDIO_EXTENSIONS:
        if ext in members:
            return InputItem(source=source, data=members[ext], source_fields=fields)
    listed = ", ".join(sorted(members)) or "none"
    return InputItem(source=source, rejection=("enumerate", f"no media member (members: {listed})"))
