"""`--webdataset` patterns: the brace notation webdataset users write, then shell globs.

img2dataset and video2dataset number their shards and webdataset reads them as `{00000..00999}.tar`,
so that is what users paste. Expansion is webdataset's own (the `braceexpand` package: ranges with
zero padding, lists, nesting); each resulting name that holds a wildcard is then globbed, so
`'/wds/*.tar'` and `'{laion,cc12m}/*.tar'` work too. A name without a wildcard is kept whether or not
the file exists: the source decides what a missing shard costs. On an object store
(`store_shard_names`) the same rules apply to the URI's path, with existence from listings.
"""

from __future__ import annotations

import glob
import os

from braceexpand import UnbalancedBracesError, braceexpand

WILDCARDS = frozenset("*?[")


def expand_braces(pattern: str) -> list[str]:
    """The names `pattern`'s braces stand for, in order (`~` expanded); ValueError naming the pattern."""
    try:
        return [os.path.expanduser(name) for name in braceexpand(pattern)]
    except UnbalancedBracesError:
        raise ValueError(f"--webdataset {pattern!r} has unbalanced braces; write ranges as {{00000..00999}} "
                         "and lists as {a,b}") from None


def shard_names(pattern: str) -> list[str]:
    """Every shard name `pattern` stands for, in order and without repeats.

    A brace expansion with a wildcard contributes the files it matches (sorted); one without
    contributes itself, present or not."""
    names: dict[str, None] = {}  # ordered set
    for name in expand_braces(pattern):
        if WILDCARDS.isdisjoint(name):
            names[name] = None
        else:
            names.update((path, None) for path in sorted(glob.glob(name)) if os.path.isfile(path))
    return list(names)


def store_shard_names(pattern: str) -> list[tuple[str, bool]]:
    """(URI, exists) of every shard a store pattern (`s3://bucket/wds/{00000..00999}.tar?endpoint_override=...`)
    names, in order and without repeats; each URI keeps the pattern's query.

    As `shard_names`, on the store: braces first (in the path; the query is left alone), then wildcards
    matched a path segment at a time, as a glob does. Existence comes from one listing per directory
    the names fall in, not one request per shard."""
    import fnmatch

    import pyarrow.fs as pafs

    from mmssl.data.store import check_access, open_location

    base, _, query = pattern.partition("?")
    suffix = f"?{query}" if query else ""
    scheme_bucket = base.split("://", 1)[0] + "://" + base.split("://", 1)[1].split("/", 1)[0]
    location = open_location(scheme_bucket + suffix)
    check_access(location)
    listed: dict[str, set[str]] = {}  # directory (URI path) -> its files' URIs, listed once

    def files_under(directory: str, recursive: bool) -> set[str]:
        key = f"{directory}{'/**' if recursive else ''}"
        if key not in listed:
            root = location.path(directory[len(scheme_bucket):].strip("/")) if directory != scheme_bucket else location.root
            selector = pafs.FileSelector(root, recursive=recursive, allow_not_found=True)
            listed[key] = {scheme_bucket + "/" + info.path[len(location.root):].lstrip("/")
                           for info in location.filesystem.get_file_info(selector) if info.type == pafs.FileType.File}
        return listed[key]

    names: dict[str, bool] = {}
    try:
        expanded = list(braceexpand(base))
    except UnbalancedBracesError:
        raise ValueError(f"--webdataset {pattern!r} has unbalanced braces; write ranges as {{00000..00999}} "
                         "and lists as {a,b}") from None
    for name in expanded:
        if WILDCARDS.isdisjoint(name):
            names.setdefault(name, name in files_under(name.rsplit("/", 1)[0], recursive=False))
            continue
        fixed = name[:min(name.index(c) for c in WILDCARDS if c in name)].rsplit("/", 1)[0]
        segments = name.split("/")
        for found in sorted(files_under(fixed, recursive=True)):
            parts = found.split("/")
            if len(parts) == len(segments) and all(fnmatch.fnmatchcase(p, s) for p, s in zip(parts, segments)):
                names.setdefault(found, True)
    return [(name + suffix, exists) for name, exists in names.items()]
