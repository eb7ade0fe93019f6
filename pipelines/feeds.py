"""What the sample source hands DALI for one sample: a family's feed.

Image families feed the encoded members as they are (`EncodedMembers`). Video and audio families
first plan a request from the members' headers (which frames, which audio window, which negative)
and feed what the graph needs to carry it out: on the GPU the encoded video plus the frame numbers
for NVDEC, on the CPU frames already decoded by decord. A feed that cannot serve a sample raises
`SampleRejected`, and the source gives the slot to a substitute, as for a member that fails its
check, so an undecodable video is skipped and counted, never fatal.

A feed's randomness comes only from `FeedRequest.rng`, seeded by the slot, so every process and
every restart plans the same request for the same slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import nvidia.dali.types as types

if TYPE_CHECKING:
    from mmssl.pipelines.sample_source import SampleSource


class SampleRejected(Exception):
    """This sample cannot be fed (its reason names the member and what is wrong)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FeedOutput:
    name: str
    dtype: types.DALIDataType
    layout: str = ""


@dataclass
class FeedRequest:
    members: dict[str, bytes]  # the sample's checked members, by extension
    index: int  # manifest index
    row: int  # dense row among the family's samples
    epoch: int
    rng: np.random.Generator  # seeded by (seed, epoch, epoch position, attempt): the same on any world size
    source: "SampleSource"  # to read other samples' members (negatives from another video)
    seed: tuple[int, ...]  # (plan seed, epoch, epoch position, attempt): `rng`'s seed, for draws made ahead
    borrowed: list[tuple[int, str, bytes]] = field(default_factory=list)  # (index, ext, bytes) read via borrow()
    refused: list[tuple[int, str]] = field(default_factory=list)  # (index, reason): borrowed samples found bad

    def borrow(self, index: int, exts: tuple[str, ...]) -> tuple[bytes, ...] | None:
        """Members `exts` of another sample (e.g. another video's sound as a negative), or None when that
        sample is known bad or fails its check (then reported like a skipped sample). Recorded, so a batch
        DALI fails on is searched for them too."""
        members, reason = self.source.read_checked(index, exts)
        if reason is not None:
            self.refused.append((index, reason))
            return None
        self.borrowed.extend((index, ext, payload) for ext, payload in zip(exts, members))
        return members


class Feed(Protocol):
    def outputs(self) -> tuple[FeedOutput, ...]:
        """Names, types and layouts of what `__call__` returns, in order."""

    def __call__(self, request: FeedRequest) -> tuple[np.ndarray, ...]:
        """The arrays fed to DALI for this sample; raises SampleRejected when it cannot be served.

    A feed that borrows other samples' members may also define `borrows(seed, epoch, row, num_rows)`:
    the (row, exts) it will borrow first for the slot of that seed, known before the slot is read, so
    the source fetches them ahead with the slot's own members (`SampleSource._prefetch_from`)."""


class EncodedMembers:
    """The members' bytes, unchanged (image families: DALI decodes the JPEG)."""

    def __init__(self, exts: tuple[str, ...]):
        self.exts = exts

    def outputs(self) -> tuple[FeedOutput, ...]:
        return tuple(FeedOutput(ext, types.UINT8) for ext in self.exts)

    def __call__(self, request: FeedRequest) -> tuple[np.ndarray, ...]:
        return tuple(np.frombuffer(request.members[ext], np.uint8) for ext in self.exts)
