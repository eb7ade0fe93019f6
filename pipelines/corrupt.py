"""Routing the reader around samples that fail to decode, so a bad JPEG never stops a run.

DALI's decoders cannot drop a sample: a failed decode stops the pipeline with an error that names
the sample's source (`shard.tar:offset:key.jpg`). The loader then finds the bad sample(s), writes
repaired copies of the affected shards' index files in which each bad sample's entry points at a
neighbouring good sample of the same tar, and rebuilds the pipeline from the checkpoint taken before
the failed batch. The sample count and order are unchanged, so rank slices, shuffling and resume
stay exact; the bad sample's slot carries a duplicate of its neighbour (like DALI's padding).
Some failures (a JPEG that is garbage after its header) name only the sample's place in the batch;
then the samples the reader can have served recently are decoded with PIL, nearest first.
"""

from __future__ import annotations

import bisect
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from mmssl.pipelines.reader import IMAGE_MEMBER, ShardSet

log = logging.getLogger(__name__)
_SOURCE_INFO = re.compile(r"(\S+\.tar):(\d+):(\S+)")


@dataclass(frozen=True, order=True)
class BadSample:
    tar_path: str
    offset: int  # byte offset of the member that failed, as DALI reports it
    member: str  # e.g. "0000000007.jpg"


def bad_samples_in_error(message: str, shards: ShardSet) -> list[BadSample]:
    """The samples a DALI pipeline error names (source info `tar:offset:member`), for our tars only."""
    known = set(shards.tar_paths)
    found = {BadSample(m[1], int(m[2]), m[3]) for m in _SOURCE_INFO.finditer(message) if m[1] in known}
    return sorted(found)


def sample_members(shards: ShardSet) -> list[tuple[str, int, int, str]]:
    """(tar, jpg offset, jpg size, member name) of every sample, in reader order (index files only)."""
    members = []
    for tar_path, idx_path in zip(shards.tar_paths, shards.index_paths):
        header, *lines = Path(idx_path).read_text().splitlines()
        for line in lines[: int(header.split()[1])]:
            parts = line.split()
            at = parts.index(IMAGE_MEMBER)
            members.append((tar_path, int(parts[at + 1]), int(parts[at + 2]), parts[at + 3]))
    return members


def scan_for_bad_samples(shards: ShardSet, positions: list[int], stop_after_found: int = 256) -> list[BadSample]:
    """Fallback when an error names no sample: decode the samples at `positions` (reader order, most
    likely first) with PIL; stops `stop_after_found` samples after the first failure it finds."""
    members = sample_members(shards)
    bad, remaining = [], None
    for position in positions:
        tar_path, offset, size, name = members[position]
        with open(tar_path, "rb") as tar:
            tar.seek(offset)
            payload = tar.read(size)
        try:
            Image.open(io.BytesIO(payload)).convert("RGB")
        except Exception:  # any failure to decode marks the sample bad  # noqa: BLE001
            bad.append(BadSample(tar_path, offset, name))
            remaining = stop_after_found if remaining is None else remaining
        if remaining is not None:
            remaining -= 1
            if remaining <= 0:
                break
    return bad


def repaired_shards(original: ShardSet, bad: list[BadSample], out_dir: Path) -> ShardSet:
    """`original` with repaired index files (in `out_dir`) for every tar that holds a bad sample."""
    by_tar: dict[str, set[int]] = {}
    for sample in bad:
        by_tar.setdefault(sample.tar_path, set()).add(sample.offset)
    index_paths = list(original.index_paths)
    for i, tar_path in enumerate(original.tar_paths):
        if tar_path in by_tar:
            index_paths[i] = str(_repair_index(Path(original.index_paths[i]), tar_path, by_tar[tar_path], out_dir, i))
    return original.with_index_paths(index_paths)


def _repair_index(idx_path: Path, tar_path: str, bad_offsets: set[int], out_dir: Path, number: int) -> Path:
    header, *lines = idx_path.read_text().splitlines()
    lines = lines[: int(header.split()[1])]
    offsets = [read_index_line(line)[IMAGE_MEMBER] for line in lines]
    good = [i for i, offset in enumerate(offsets) if offset not in bad_offsets]
    if not good:
        raise ValueError(f"every image in {tar_path} fails to decode; re-prepare it or remove it (and {idx_path})")
    repaired = [line if offsets[i] not in bad_offsets else lines[_nearest(good, i)] for i, line in enumerate(lines)]
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / f"{number:06d}-{idx_path.name}"
    out_path.write_text("\n".join([header, *repaired]) + "\n")
    log.warning("%s: %d sample(s) fail to decode and are skipped", tar_path, len(lines) - len(good))
    return out_path


def _nearest(sorted_positions: list[int], position: int) -> int:
    """The element of `sorted_positions` closest to `position` (the earlier one on a tie)."""
    k = bisect.bisect_left(sorted_positions, position)
    candidates = sorted_positions[max(k - 1, 0) : k + 1]
    return min(candidates, key=lambda g: (abs(g - position), g))


def read_index_line(line: str) -> dict[str, int]:
    """{member extension: data offset} of one v1.2 index line."""
    parts = line.split()
    return {parts[i]: int(parts[i + 1]) for i in range(0, len(parts), 4)}

