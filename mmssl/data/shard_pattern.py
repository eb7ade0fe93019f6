"""`--webdataset` patterns: the brace notation webdataset users write, then shell globs.

img2dataset and video2dataset number their shards and webdataset reads them as `{00000..00999}.tar`,
so that is what users paste. Expansion is webdataset's own (the `braceexpand` package: ranges with
zero padding, lists, nesting); each resulting name that holds a wildcard is then globbed, so
`'/wds/*.tar'` and `'{laion,cc12m}/*.tar'` work too. A name without a wildcard is kept whether or not
the file exists: the source decides what a missing shard costs.
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
