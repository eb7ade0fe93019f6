"""Bytes in, one way: the per-sample callback that feeds every DALI graph from the shards.

`fn.external_source` calls a `SampleSource` once per sample slot, in the main process or in its
parallel worker processes. The source maps the slot to a sample through the plan, reads the
family's members by offset (one `pread` each on disk, one range request each on an object store,
fetched ahead: see mmssl/data/shard_reader.py; no tar parsing), checks each member's structure, and
hands them to the family's feed (see feeds.py: the encoded bytes for images; planned frames and
audio windows for video and audio). It returns the feed's arrays plus `index` (manifest index),
`row` (dense row of the family's samples), `skipped` (manifest indices passed over in this slot)
and `skip_reasons` (their reasons, UTF-8, one per line). A member that fails its check, a sample
the feed rejects (e.g. a video decord cannot decode in time), or a sample already known to be bad
is replaced by the plan's substitute for the slot.

The members in `full_check` (FLAC by default) are decoded whole on the CPU the first time this process
reads them, as the sample's own or as another sample's negative: DALI decodes a FLAC whole for every
window anyway, so this costs one more decode per sample and process (about 8 ms for 10 s of sound),
and a damaged one is found wherever it is first read, before DALI fails on it. Videos and JPEGs are
not: a whole decode costs far more than what a clip or view reads, and their damage shows when
decoding fails (decord here, or DALI, whose failed batch is then searched).

What the source feeds is a function of (DALI iteration, slot), the bytes on disk and the known-bad
set it was built with, so a restarted pipeline, another worker process or the loader's own
bookkeeping all see the same samples. Two things break that on purpose, to keep a bad sample from
costing time twice: a decode that times out, and the process's own memory of samples it found bad
(`found_bad`): once one fails in this process it is not fed again here, as itself, as a substitute
or as another sample's negative. The loader adds every bad sample to the known-bad set at the next
epoch, for every process and rank; until then a sample whose damage only some slots touch (a video
with one bad GOP) may be fed in a later slot by another process or after a restart.

DALI counts iterations from 0 in a new pipeline and restores the count with a checkpoint, so the
iteration is the plan's batch number since the plan's start (`SamplePlan.locate`). Only paths cross
process boundaries; the tables are memory-mapped in each process.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import nvidia.dali.types as types

from mmssl.data.member_checks import FULL_CHECKS, QUICK_CHECKS
from mmssl.data.member_table import MemberTable
from mmssl.data.sample_plan import SamplePlan
from mmssl.data.shard_reader import LocalShards, MemberUnreadable, StoreShards, open_shard_reader
from mmssl.data.shards import sample_key
from mmssl.pipelines.feeds import EncodedMembers, Feed, FeedOutput, FeedRequest, SampleRejected

MAX_ATTEMPTS = 64  # substitutes tried for one slot before the dataset is called broken
KNOWN_BAD_REASON = "failed to decode in the pipeline"
FULL_CHECK_MEMBERS = ("flac",)  # decoded whole on the CPU the first time a process reads them (see SampleSource)


class BrokenDatasetError(RuntimeError):
    """So many samples fail that a slot cannot be filled: the data, not the loader, needs fixing."""


@dataclass(frozen=True)
class Slot:
    index: int  # manifest index of the sample fed
    row: int  # its dense row
    members: tuple[bytes, ...]  # encoded members, in the family's order
    skipped: tuple[tuple[int, str], ...]  # (manifest index, reason) of samples passed over (or refused as negatives)
    fed: tuple[np.ndarray, ...] = ()  # what the feed made of the members
    borrowed: tuple[tuple[int, str, bytes], ...] = ()  # other samples' members the feed read (index, ext, bytes)


SOURCE_OUTPUTS = ("index", "row", "skipped", "skip_reasons")  # after the feed's outputs


class SampleSource:
    """Callable for `fn.external_source(batch=False, num_outputs=len(source.outputs()))`."""

    def __init__(self, table: MemberTable, exts: tuple[str, ...], plan: SamplePlan,
                 known_bad: frozenset[int] = frozenset(), feed: Feed | None = None,
                 full_check: tuple[str, ...] = FULL_CHECK_MEMBERS, reader: LocalShards | StoreShards | None = None,
                 workers: int = 0):
        self.table, self.tar_paths = table, table.tar_paths
        self.exts, self.plan, self.known_bad, self.full_check = exts, plan, known_bad, full_check
        self.reader = reader if reader is not None else open_shard_reader(table)
        self.workers = workers  # DALI processes the batches are split among (0: this one reads them all)
        in_flight = self.reader.options.requests_in_flight if self.reader.prefetches else 1
        self._window_slots = max(1, in_flight // len(exts))
        self._ahead: deque[tuple[int, int, int]] = deque()  # slots prefetched, in plan order
        self._batch_rows: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self.feed = feed if feed is not None else EncodedMembers(exts)
        self.eligible_path = table.eligible_path(exts)
        self.found_bad: dict[int, str] = {}  # samples that failed in this process, and why
        self._checked_whole: set[tuple[int, str]] = set()  # (index, ext) that passed the full check here
        self._arrays: dict | None = None

    def __getstate__(self) -> dict:  # worker processes open their own files and keep their own findings
        return dict(self.__dict__, _arrays=None, found_bad={}, _checked_whole=set(), _ahead=deque(),
                    _batch_rows=OrderedDict())

    @property
    def arrays(self) -> dict:
        if self._arrays is None:
            self._arrays = {"rows": np.load(self.eligible_path, mmap_mode="r"), "shard": self.table.shard_numbers(),
                            **{ext: self.table.locations(ext) for ext in self.exts}}
        return self._arrays

    def outputs(self) -> tuple[FeedOutput, ...]:
        """Everything `__call__` returns, in order: the feed's outputs, then SOURCE_OUTPUTS."""
        return (*self.feed.outputs(), *(FeedOutput(name, types.INT64) for name in SOURCE_OUTPUTS[:3]),
                FeedOutput(SOURCE_OUTPUTS[3], types.UINT8))

    def __call__(self, info) -> tuple[np.ndarray, ...]:
        """DALI's SampleInfo -> (feed arrays..., index, row, skipped, skip_reasons)."""
        epoch, batch = self.plan.locate(info.iteration)
        slot = self.slot(epoch, batch, info.idx_in_batch)
        skipped = np.array([index for index, _ in slot.skipped], np.int64)
        reasons = np.frombuffer("\n".join(reason for _, reason in slot.skipped).encode(), np.uint8)
        return (*slot.fed, np.array(slot.index, np.int64), np.array(slot.row, np.int64), skipped, reasons)

    def slot(self, epoch: int, batch: int, position: int) -> Slot:
        """The sample fed at `position` of `batch` of `epoch`, after skipping bad ones.

        Everything random about the slot (substitutes, the feed's choices) is seeded by the epoch position
        it holds, not by the rank or batch: the same on any number of ranks."""
        self._prefetch_from(epoch, batch, position)
        row = int(self._rows_of(epoch, batch)[position])
        at = self.plan.position(epoch, batch, position)
        skipped = []
        for attempt in range(MAX_ATTEMPTS):
            index = int(self.arrays["rows"][row])
            members, reason = self.read_checked(index)
            if reason is None:
                rng = np.random.default_rng((self.plan.seed, epoch, at, attempt))
                request = FeedRequest(dict(zip(self.exts, members)), index, row, epoch, rng, self,
                                      seed=(self.plan.seed, epoch, at, attempt))
                try:
                    fed = tuple(self.feed(request))
                    return Slot(index, row, members, tuple(skipped + request.refused), fed, tuple(request.borrowed))
                except SampleRejected as rejected:
                    reason = rejected.reason
                self.found_bad[index] = reason
            skipped.append((index, reason))
            row = self.plan.substitute(epoch, at, attempt)
        raise BrokenDatasetError(
            f"{MAX_ATTEMPTS} samples in a row could not be fed (e.g. {self.describe(skipped[0][0])}: {skipped[0][1]}); "
            f"the dataset in {self.table.location} looks broken: re-run preparation on it")

    @property
    def num_rows(self) -> int:
        return self.plan.num_rows

    def index_of_row(self, row: int) -> int:
        return int(self.arrays["rows"][row])

    def read_checked(self, index: int, exts: tuple[str, ...] | None = None) -> tuple[tuple[bytes, ...], str | None]:
        """The members `exts` (default: the family's) of sample `index` and None, or what is wrong with them."""
        if index in self.known_bad:
            return (), KNOWN_BAD_REASON
        if index in self.found_bad:
            return (), self.found_bad[index]
        members = []
        for ext in exts or self.exts:
            try:
                payload = self.read_member(index, ext)
            except MemberUnreadable as unreadable:
                self.found_bad[index] = f"{ext}: {unreadable.reason}"
                return (), self.found_bad[index]
            reason = QUICK_CHECKS[ext](payload)
            if reason is None and ext in self.full_check and (index, ext) not in self._checked_whole:
                reason = FULL_CHECKS[ext](payload)
                self._checked_whole.add((index, ext))
            if reason is not None:
                self.found_bad[index] = f"{ext}: {reason}"
                return (), self.found_bad[index]
            members.append(payload)
        return tuple(members), None

    def read_member(self, index: int, ext: str) -> bytes:
        offset, size = (int(v) for v in self.arrays[ext][index])
        return self.reader.read(int(self.arrays["shard"][index]), offset, size)

    def describe(self, index: int) -> str:
        """Where a sample lives, for log lines: `shard-000003.tar key 0000000042`."""
        return f"{Path(self.tar_paths[int(self.arrays['shard'][index])]).name} key {sample_key(index)}"

    def _rows_of(self, epoch: int, batch: int) -> np.ndarray:
        key = (epoch, batch)
        if key not in self._batch_rows:
            self._batch_rows[key] = self.plan.batch_rows(epoch, batch)
            if len(self._batch_rows) > 8:
                self._batch_rows.popitem(last=False)
        return self._batch_rows[key]

    def _prefetch_from(self, epoch: int, batch: int, position: int) -> None:
        """Ask the reader for the members of the slots this process serves next, the current one first.

        Alone (no DALI workers) this process serves every slot, so it reads ahead across batches, up
        to the window. A DALI worker is handed a contiguous part of a batch (DALI splits each batch
        evenly among its workers, and any worker may take the next part), so it reads ahead to the
        end of its part only: no member is fetched twice by two processes."""
        if not self.reader.prefetches:
            return
        current = (epoch, batch, position)
        while self._ahead and self._ahead[0] < current:
            self._ahead.popleft()
        slot = self._next_slot(self._ahead[-1]) if self._ahead else current
        end = (epoch, batch, self._part_end(position)) if self.workers > 0 else None
        ranges = []
        borrows = getattr(self.feed, "borrows", None)  # other samples' members the slot's feed will read
        while len(self._ahead) < self._window_slots and (end is None or slot < end):
            row = int(self._rows_of(*slot[:2])[slot[2]])
            wanted = [(self.index_of_row(row), self.exts)]
            if borrows is not None:
                seed = (self.plan.seed, slot[0], self.plan.position(*slot), 0)
                wanted += [(self.index_of_row(other), exts) for other, exts in borrows(seed, slot[0], row, self.num_rows)]
            for index, exts in wanted:
                if index not in self.known_bad and index not in self.found_bad:
                    shard = int(self.arrays["shard"][index])
                    ranges += [(shard, *(int(v) for v in self.arrays[ext][index])) for ext in exts]
            self._ahead.append(slot)
            slot = self._next_slot(slot)
        self.reader.prefetch(ranges)

    def _next_slot(self, slot: tuple[int, int, int]) -> tuple[int, int, int]:
        epoch, batch, position = slot
        if position + 1 < self.plan.batch_size:
            return epoch, batch, position + 1
        return (epoch, batch + 1, 0) if batch + 1 < self.plan.batches_in_epoch(epoch) else (epoch + 1, 0, 0)

    def _part_end(self, position: int) -> int:
        """End (exclusive) of the part of a batch holding `position`, as DALI splits batches among workers."""
        size, extra = divmod(self.plan.batch_size, self.workers)
        end = 0
        for part in range(self.workers):
            end += size + (part < extra)
            if position < end:
                return end
        return self.plan.batch_size
