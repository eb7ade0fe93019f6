"""`build_loader`: the one entry point the training loop uses, for every pipeline family.

The flow, the same for every family:

    member table (where each sample's members lie)  +  sample plan (seed, epoch, position -> row)
        -> SampleSource: reads the family's members by offset, skips what fails its check
        -> fn.external_source -> the family's DALI graph (decode, augment) -> named outputs
        -> Loader: a dict of torch tensors per batch, plus `index` (manifest) and `row` (dense)

A family declares the members it needs (`jpg` for images); the plan covers exactly the samples
that have them, so a dataset mixing photos and videos trains an image family on its photos.

The Loader's resume state is global, the epoch, its position (samples handed out over all ranks) and
the samples known bad, plus this rank's DALI state: restored on the same rank of a run of the same
size it is exact; on any other rank or world size the positions left are shared out anew (see
sample_plan.py and docs/resume.md). A sample whose bytes fail the source's checks is replaced in its
slot by the plan; one that passes them but still fails inside DALI is found by decoding the failed
batch's members on the CPU, and the pipeline is rebuilt from the last good batch. Once found bad, a
sample stays out for the rest of the run (docs/media_integrity.md).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import nvidia.dali.fn as fn
import nvidia.dali.types as types
import torch
from nvidia.dali import pipeline_def
from nvidia.dali.backend import TensorListGPU

from mmssl.data.member_checks import FULL_CHECKS
from mmssl.data.member_table import MemberTable
from mmssl.data.sample_plan import SamplePlan
from mmssl.data.shard_reader import StoreOptions, open_shard_reader
from mmssl.pipelines import ops
from mmssl.pipelines.audio import AUDIO_MEMBERS, AUDIO_OUTPUTS, AudioFeed, audio_graph
from mmssl.pipelines.av_pairs import AV_MEMBERS, AV_PAIRS_OUTPUTS, AVPairsFeed, AVPairsOptions, av_pairs_graph
from mmssl.pipelines.clips import CLIPS_OUTPUTS, VIDEO_MEMBERS, ClipsFeed, clips_graph
from mmssl.pipelines.eval_center_crop import CENTER_CROP_OUTPUTS, CenterCropConfig, center_crop_graph
from mmssl.pipelines.image_view import IMAGE_VIEW_OUTPUTS, image_view_graph
from mmssl.pipelines.jigsaw import JIGSAW_OUTPUTS, JigsawConfig, TileConfig, jigsaw_graph
from mmssl.pipelines.pirl import PIRL_OUTPUTS, PirlConfig, ViewConfig, pirl_graph
from mmssl.pipelines.pirl_rotation import PIRL_ROTATION_OUTPUTS, pirl_rotation_graph
from mmssl.pipelines.rotation import (
    ALL_ROTATIONS_OUTPUTS,
    JIGSAW_ROTATION_OUTPUTS,
    NUM_ROTATIONS,
    ROTATION_OUTPUTS,
    RotationConfig,
    jigsaw_rotation_graph,
    rotation_graph,
)
from mmssl.pipelines.feeds import Feed
from mmssl.pipelines.frame_order import FRAME_ORDER_OUTPUTS, FrameOrderFeed, FrameOrderOptions, choose_tuples, frame_order_graph
from mmssl.pipelines.log_mel import AudioOptions
from mmssl.pipelines.sample_source import FULL_CHECK_MEMBERS, KNOWN_BAD_REASON, SampleSource
from mmssl.pipelines.tracked_patches import (
    TRACK_GRAPH_OUTPUTS,
    TrackedPatchesFeed,
    TrackedPatchesOptions,
    track_patches,
    tracked_patches_graph,
)
from mmssl.pipelines.temporal import TemporalFeed, TemporalOptions, temporal_graph
from mmssl.pipelines.video_frames import ClipOptions
from mmssl.pipelines.views import ViewsConfig, views_graph

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "mmssl.loader.v3"
MAX_REBUILDS_PER_BATCH = 8  # a batch that keeps failing after this many found-and-skipped samples is a bug
LOADER_OUTPUTS = ("index", "row")  # added to every family's outputs
INTEGER_OUTPUTS = ("perm", "label", "rotation", "match", "audio_index", "pattern", "frame_size", *LOADER_OUTPUTS)
IMAGE_MEMBERS = ("jpg",)
MODALITY_OF_MEMBER = {"jpg": "image", "mp4": "video", "flac": "audio"}
SAMPLE_KINDS = ("image", "video", "audio")  # photos, videos (with or without sound), sound files


@dataclass(frozen=True)
class Family:
    """A pipeline family: config type, graph (members -> outputs), output names, members it needs."""

    config_type: type
    graph: Callable
    output_names: Callable[[Any], tuple[str, ...]]
    members: tuple[str, ...] = IMAGE_MEMBERS
    uses_permutations: bool = False
    conditionals: bool = False  # the graph branches on data (DALI conditionals)
    feed: Callable[[Any, str], Feed] | None = None  # (cfg, device) -> what the source feeds; None: the members' bytes
    finish: Callable[[dict, Any], dict] | None = None  # batched torch step on the pipeline's device (batch, cfg)


FAMILIES = {
    "image": Family(ViewConfig, image_view_graph, lambda cfg: IMAGE_VIEW_OUTPUTS),
    "pirl": Family(PirlConfig, pirl_graph, lambda cfg: PIRL_OUTPUTS, uses_permutations=True),
    "pirl_rotation": Family(PirlConfig, pirl_rotation_graph, lambda cfg: PIRL_ROTATION_OUTPUTS,
                            uses_permutations=True, conditionals=True),
    "jigsaw": Family(JigsawConfig, jigsaw_graph, lambda cfg: JIGSAW_OUTPUTS, uses_permutations=True),
    "rotation": Family(RotationConfig, rotation_graph,
                       lambda cfg: ALL_ROTATIONS_OUTPUTS if cfg.all_rotations else ROTATION_OUTPUTS, conditionals=True,
                       finish=lambda batch, cfg: _interleave_rotations(batch) if cfg.all_rotations else batch),
    "jigsaw_rotation": Family(TileConfig, jigsaw_rotation_graph, lambda cfg: JIGSAW_ROTATION_OUTPUTS,
                              uses_permutations=True, conditionals=True),
    "views": Family(ViewsConfig, views_graph, lambda cfg: cfg.output_names),
    "center_crop": Family(CenterCropConfig, center_crop_graph, lambda cfg: CENTER_CROP_OUTPUTS),
    "clips": Family(ClipOptions, clips_graph, lambda cfg: CLIPS_OUTPUTS, members=VIDEO_MEMBERS, feed=ClipsFeed),
    "temporal": Family(TemporalOptions, temporal_graph, lambda cfg: cfg.output_names, members=VIDEO_MEMBERS,
                       feed=TemporalFeed),
    "audio": Family(AudioOptions, audio_graph, lambda cfg: AUDIO_OUTPUTS, members=AUDIO_MEMBERS, feed=AudioFeed),
    "av_pairs": Family(AVPairsOptions, av_pairs_graph, lambda cfg: AV_PAIRS_OUTPUTS, members=AV_MEMBERS,
                       feed=AVPairsFeed),
    "frame_order": Family(FrameOrderOptions, frame_order_graph, lambda cfg: FRAME_ORDER_OUTPUTS, members=VIDEO_MEMBERS,
                          feed=FrameOrderFeed, finish=choose_tuples),
    "tracked_patches": Family(TrackedPatchesOptions, tracked_patches_graph, lambda cfg: TRACK_GRAPH_OUTPUTS,
                              members=VIDEO_MEMBERS, feed=TrackedPatchesFeed, finish=track_patches),
}


@dataclass(frozen=True, order=True)
class SkippedSample:
    index: int  # manifest index
    where: str  # shard file and key
    reason: str


def make_config(pipeline: str, options: dict | None):
    """The typed config of `pipeline` with `options` applied; unknown names or bad values raise."""
    if pipeline not in FAMILIES:
        raise ValueError(f"unknown pipeline {pipeline!r}; choose one of {sorted(FAMILIES)}")
    config_type = FAMILIES[pipeline].config_type
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    unknown = sorted(set(options or {}) - set(fields))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for pipeline {pipeline!r}; valid options: {sorted(fields)}")
    values = {}
    for name, value in (options or {}).items():
        if isinstance(value, dict) and "ColorJitter" in str(fields[name].type):  # also `ops.ColorJitter | None`
            value = ops.ColorJitter(**value)
        values[name] = tuple(value) if isinstance(value, list) else value
    return config_type(**values)


def build_loader(pipeline: str, data_dir, *, batch_size: int, device: str = "cpu", device_id: int | None = None,
                 shard_id: int = 0, num_shards: int = 1, seed: int = 0, num_threads: int = 2,
                 checkpoint: str | None = None, options: dict | None = None, shuffle: bool = True,
                 source_workers: int | None = None, full_check: tuple[str, ...] = FULL_CHECK_MEMBERS,
                 store: StoreOptions | None = None) -> "Loader":
    """A loader of `pipeline` over the prepared dataset `data_dir` for rank `shard_id` of `num_shards`.

    `data_dir`: a directory, or a store URI (`s3://bucket/prefix`, see mmssl/data/store.py) whose
    members are fetched by byte range, `store` saying how (requests in flight, a local cache).

    `source_workers`: processes reading members for DALI (0: in this process; default 0 on CPU,
    where decoding dominates, and 2 on GPU, where DALI outpaces one Python thread).
    `full_check`: members decoded whole on the CPU the first time a process reads them (see
    sample_source.py); () leaves damage to be found when DALI fails on it.
    """
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    if device == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("device='gpu' needs CUDA, and torch sees no GPU here; use device='cpu'")
    if batch_size < 1 or num_threads < 1:
        raise ValueError(f"batch_size and num_threads must be >= 1, got {batch_size}, {num_threads}")
    if not 0 <= shard_id < num_shards:
        raise ValueError(f"shard_id must be in 0..{num_shards - 1}, got {shard_id}")
    cfg = make_config(pipeline, options)
    table = MemberTable.open(data_dir)
    plan = SamplePlan(eligible_rows(table, pipeline, data_dir), batch_size, shard_id, num_shards, seed, shuffle)
    if device == "gpu" and device_id is None:
        device_id = torch.cuda.current_device()
    return Loader(pipeline, cfg, table, plan, device=device, device_id=device_id if device == "gpu" else None,
                  num_threads=num_threads, checkpoint=checkpoint, full_check=full_check, store=store,
                  source_workers=source_workers if source_workers is not None else (2 if device == "gpu" else 0))


def eligible_rows(table: MemberTable, pipeline: str, data_dir) -> int:
    """How many samples have the members `pipeline` reads; a dataset with none is refused by name."""
    members = FAMILIES[pipeline].members
    rows = table.eligible_count(members)
    if rows == 0:
        raise ValueError(f"{data_dir} has no samples with {'+'.join(members)} members for pipeline "
                         f"{pipeline!r} ({table.describe_counts()}); prepare a dataset that has them")
    return rows


class Loader:
    """One rank's epochs of batches; owns the DALI pipeline, the plan position and the bad-sample set."""

    def __init__(self, pipeline: str, cfg, table: MemberTable, plan: SamplePlan, *, device: str,
                 device_id: int | None, num_threads: int, checkpoint: str | None, source_workers: int,
                 full_check: tuple[str, ...] = FULL_CHECK_MEMBERS, store: StoreOptions | None = None):
        self.pipeline, self.cfg, self.device, self.plan, self.table = pipeline, cfg, device, plan, table
        self.family = FAMILIES[pipeline]
        self.batch_size, self.shard_id, self.num_shards = plan.batch_size, plan.rank, plan.world_size
        self.batches_per_epoch = plan.batches_per_epoch  # of a whole epoch (a resumed plan's first may be shorter)
        self._pipe_args = dict(batch_size=plan.batch_size, num_threads=num_threads, device_id=device_id)
        self._source_workers, self._full_check = source_workers, full_check
        self._reader = open_shard_reader(table, store)  # kept across pipeline rebuilds: its pool, cache and counts
        self._permutations = cfg.permutation_set() if self.family.uses_permutations else None
        self.epoch, self._batch_in_epoch = 0, 0
        self.bad: dict[int, SkippedSample] = {}  # every sample found bad so far (here or on other ranks), once each
        self._source_bad: frozenset[int] = frozenset()  # the bad samples the running pipeline's source skips
        self._dali_state: bytes | None = None
        if checkpoint is not None:
            self._restore(checkpoint)
        self._pipe = self._build()

    @property
    def num_samples(self) -> int:
        """Samples this family can use (dense rows 0..num_samples-1): the size of a memory bank."""
        return self.plan.num_rows

    @property
    def modality(self) -> str:
        """What the family reads: `image`, `video`, `audio` or `video+audio`."""
        return "+".join(MODALITY_OF_MEMBER[ext] for ext in sorted(self.family.members, key=("jpg", "mp4", "flac").index))

    def dataset_modalities(self) -> dict[str, int]:
        """Samples of the whole dataset by kind (photos, videos, sound files), used by this family or not."""
        return {kind: self._count_of_kind(kind, ()) for kind in SAMPLE_KINDS}

    def unused_modalities(self) -> dict[str, int]:
        """Samples of each kind this family leaves out (e.g. videos for a photo family, silent videos for audio)."""
        return {kind: self._count_of_kind(kind, ()) - self._count_of_kind(kind, self.family.members)
                for kind in SAMPLE_KINDS}

    def _count_of_kind(self, kind: str, members: tuple[str, ...]) -> int:
        """Samples of `kind` that also have `members`: a photo has jpg, a video mp4, a sound file flac and no mp4."""
        def having(*exts: str) -> int:
            return self.table.eligible_count(tuple(sorted({*members, *exts})))

        if kind == "audio":
            return having("flac") - having("flac", "mp4")
        return having({"image": "jpg", "video": "mp4"}[kind])

    def store_stats(self):
        """Requests, bytes and in-flight counts this process sent to the dataset's store since the loader was
        built (None on local disk; DALI source workers' own requests are counted in their processes)."""
        return self._reader.snapshot() if self._reader.prefetches else None

    @property
    def samples_skipped(self) -> int:
        """Distinct samples found bad so far (each counted once; it stays out for the rest of the run)."""
        return len(self.bad)

    @property
    def bad_samples(self) -> list[SkippedSample]:
        return sorted(self.bad.values())

    def add_bad_samples(self, samples: list[SkippedSample]) -> None:
        """Samples other ranks found bad: left out from the next epoch on (the trainer shares them)."""
        for sample in samples:
            self.bad.setdefault(sample.index, sample)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        """The rest of the current epoch (all of it on a fresh or finished epoch)."""
        if self._batch_in_epoch == self.plan.batches_in_epoch(self.epoch):
            self.epoch, self._batch_in_epoch = self.epoch + 1, 0
        if self._batch_in_epoch == 0 and self._source_bad != set(self.bad):
            self._rebuild()  # the new epoch skips every sample found bad so far, in any role
        while self._batch_in_epoch < self.plan.batches_in_epoch(self.epoch):
            outputs = self._run()
            self._batch_in_epoch += 1
            yield self._to_batch(outputs)

    def __len__(self) -> int:
        return self.batches_per_epoch

    @property
    def position(self) -> int:
        """How far the current epoch got over all ranks: positions 0..position-1 have been handed out."""
        return self.plan.position_after(self.epoch, self._batch_in_epoch)

    @property
    def epochs_done(self) -> int:
        """Whole epochs finished so far (an epoch counts once its last batch is returned)."""
        return self.epoch + (self._batch_in_epoch == self.plan.batches_in_epoch(self.epoch))

    def batches_left(self, epochs: int) -> int:
        """Batches this rank runs until `epochs` whole epochs are done (every rank runs as many)."""
        if self.epochs_done >= epochs:
            return 0
        this_epoch = self.plan.batches_in_epoch(self.epoch) - self._batch_in_epoch
        return this_epoch + (epochs - self.epoch - 1) * self.batches_per_epoch

    def scope(self) -> dict:
        """What a checkpoint of this loader belongs to: dataset, family, options and the sample order."""
        return {"dataset": {"fingerprint": self.table.fingerprint, "samples": self.table.num_samples},
                "pipeline": self.pipeline, "options": _plain(dataclasses.asdict(self.cfg)),
                "shuffle": self.plan.shuffle, "seed": self.plan.seed}

    def checkpoint(self) -> str:
        """JSON state from which `build_loader(..., checkpoint=it)` yields exactly the next batch on this
        rank, or, on any rank of any world size, continues the epoch from its global position."""
        return json.dumps({
            "format": CHECKPOINT_FORMAT, "scope": self.scope(),
            "epoch": self.epoch, "position": self.position, "bad": [dataclasses.astuple(s) for s in self.bad_samples],
            "rank": {"shard_id": self.shard_id, "num_shards": self.num_shards, "batch_size": self.batch_size,
                     "plan_start": [self.plan.start_epoch, self.plan.start_position],
                     "batch_in_epoch": self._batch_in_epoch, "source_bad": sorted(self._source_bad),
                     "dali": base64.b64encode(self._dali_state).decode() if self._dali_state is not None else None},
        })

    def _restore(self, checkpoint: str) -> None:
        """The global state (epoch, position, bad samples) always; this rank's exact state (the plan's
        timeline, DALI's state) when the checkpoint is this rank's, of a run of the same size."""
        state = json.loads(checkpoint)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a loader checkpoint of this version (format {state.get('format')!r}, "
                             f"want {CHECKPOINT_FORMAT}); start the loader without it")
        differences = scope_differences(state["scope"], self.scope())
        if differences:
            raise ValueError("this loader checkpoint belongs to another loader; differences (saved -> now):\n  "
                             + "\n  ".join(differences)
                             + "\nbuild the loader with the saved settings and dataset, or start it without the checkpoint")
        self.bad = {s[0]: SkippedSample(*s) for s in state["bad"]}
        mine = state["rank"]
        if (mine["shard_id"], mine["num_shards"], mine["batch_size"]) == (self.shard_id, self.num_shards,
                                                                        self.batch_size):
            self.plan = dataclasses.replace(self.plan, start_epoch=mine["plan_start"][0],
                                            start_position=mine["plan_start"][1])
            self.epoch, self._batch_in_epoch = state["epoch"], mine["batch_in_epoch"]
            self._dali_state = base64.b64decode(mine["dali"]) if mine["dali"] is not None else None
            self._source_bad = frozenset(mine["source_bad"])
            return
        # another world size (or rank, or batch size): the positions not yet handed out, shared anew
        epoch, position = state["epoch"], state["position"]
        if position >= self.plan.num_rows:
            epoch, position = epoch + 1, 0
        self.plan = dataclasses.replace(self.plan, start_epoch=epoch, start_position=position)
        self.epoch, self._batch_in_epoch = epoch, 0
        self._source_bad = frozenset(self.bad)

    def _build(self):
        feed = self.family.feed(self.cfg, self.device) if self.family.feed is not None else None
        self._source = SampleSource(self.table, self.family.members, self.plan, known_bad=self._source_bad, feed=feed,
                                    full_check=self._full_check, reader=self._reader, workers=self._source_workers)
        extra = {"permutations": self._permutations} if self.family.uses_permutations else {}
        pipe = family_pipeline(self.family, self._source, self.cfg, self.device, self._source_workers,
                               checkpoint=self._dali_state, graph_args=extra, seed=self.plan.dali_seed(),
                               **self._pipe_args)
        pipe.build()
        return pipe

    def _rebuild(self) -> None:
        """A new pipeline from the state after the last good batch, skipping every sample known bad."""
        del self._pipe
        self._source_bad = frozenset(self.bad)
        self._pipe = self._build()

    def _run(self):
        """One batch of DALI outputs; when DALI fails on a sample, find it, skip it and rebuild."""
        for _ in range(MAX_REBUILDS_PER_BATCH):
            try:
                outputs = self._pipe.run()
            except RuntimeError as error:
                self._find_samples_dali_failed_on(error)
                self._rebuild()
                continue
            self._dali_state = self._pipe.checkpoint()
            return outputs
        raise RuntimeError(f"batch {self._batch_in_epoch} of epoch {self.epoch} on rank {self.shard_id} still fails "
                           f"after skipping {MAX_REBUILDS_PER_BATCH} undecodable samples in it "
                           f"({self._describe_batch()}); the dataset looks broken: re-run preparation on it")

    def _find_samples_dali_failed_on(self, error: RuntimeError) -> None:
        """Decode on the CPU every member the failed batch read (and the batch DALI may have prefetched):
        the samples' own members and those borrowed from others (another video's sound as a negative)."""
        found = {}
        current = (self.epoch, self._batch_in_epoch)
        for slot in self._slots_of(*current) + self._slots_of(*self._following(*current)):
            own = [(slot.index, ext, payload) for ext, payload in zip(self.family.members, slot.members)]
            for index, ext, payload in own + list(slot.borrowed):
                if index not in found and (reason := FULL_CHECKS[ext](payload)) is not None:
                    found[index] = f"{ext}: {reason}"
        if not found:
            raise BatchFailedError(f"DALI failed on batch {self._batch_in_epoch} of epoch {self.epoch} on rank "
                                   f"{self.shard_id}, and every member it read decodes on the CPU, so no sample can be "
                                   f"blamed (a bug or bad settings, not bad data); the batch: {self._describe_batch()}. "
                                   f"DALI said: {_first_lines(error)}") from error
        for index, reason in found.items():
            self._mark_bad(index, reason)

    def _slots_of(self, epoch: int, batch: int) -> list:
        return [self._source.slot(epoch, batch, position) for position in range(self.batch_size)]

    def _following(self, epoch: int, batch: int) -> tuple[int, int]:
        """The batch after `batch` of `epoch` in this loader's plan."""
        return (epoch, batch + 1) if batch + 1 < self.plan.batches_in_epoch(epoch) else (epoch + 1, 0)

    def _describe_batch(self) -> str:
        """The current batch's samples as `shard-000001.tar key 0000000042, ...` (borrowed ones named too)."""
        described = []
        for slot in self._slots_of(self.epoch, self._batch_in_epoch):
            borrowed = sorted({index for index, _, _ in slot.borrowed})
            extra = f" (+ {', '.join(self._source.describe(i) for i in borrowed)})" if borrowed else ""
            described.append(self._source.describe(slot.index) + extra)
        return ", ".join(described)

    def _mark_bad(self, index: int, reason: str) -> None:
        """Record a sample as bad, once, with where it lives, and log it."""
        if index in self.bad:
            return
        self.bad[index] = SkippedSample(index, self._source.describe(index), reason)
        log.warning("skipping sample %s (manifest index %d): %s", self.bad[index].where, index, reason)

    def _to_batch(self, outputs) -> dict[str, torch.Tensor]:
        *outputs, skipped, reasons = outputs
        self._record_skipped(skipped, reasons)
        target = torch.device("cuda", self._pipe_args["device_id"]) if self.device == "gpu" else torch.device("cpu")
        batch = {}
        for name, tensor_list in zip((*self.family.output_names(self.cfg), *LOADER_OUTPUTS), outputs):
            tensor = _to_torch(tensor_list, target)
            batch[name] = tensor.long() if name in INTEGER_OUTPUTS else tensor
        if self.family.finish is not None:
            batch = self.family.finish(batch, self.cfg)
        return batch

    def _record_skipped(self, skipped, reasons) -> None:
        for i in range(len(skipped)):
            said = bytes(reasons.at(i)).decode(errors="replace").split("\n")
            for index, reason in zip(skipped.at(i).tolist(), said):
                self._mark_bad(index, reason or KNOWN_BAD_REASON)


class BatchFailedError(RuntimeError):
    """DALI failed on a batch whose every member decodes on the CPU: the message names the batch's samples."""


def scope_differences(saved: dict, now: dict, prefix: str = "") -> list[str]:
    """`name: saved -> now` for every setting that differs between two loader scopes (nested dicts flattened)."""
    differences = []
    for key in sorted(set(saved) | set(now)):
        before, after = saved.get(key), now.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            differences += scope_differences(before, after, f"{prefix}{key}.")
        elif before != after:
            differences.append(f"{prefix}{key}: {before!r} -> {after!r}")
    return differences


def _plain(value):
    """JSON's view of a config value (tuples become lists), so a saved scope compares equal to a fresh one."""
    return json.loads(json.dumps(value))


def _first_lines(error: Exception, count: int = 6) -> str:
    return " | ".join(line.strip() for line in str(error).strip().splitlines()[:count] if line.strip())


def family_pipeline(family: Family, source: SampleSource, cfg, device: str, source_workers: int, *,
                    checkpoint: bytes | None, graph_args: dict, **pipe_args):
    """The DALI pipeline of `family`: the source's feed -> the family's graph -> outputs, index, row, skipped."""
    specs = source.outputs()

    @pipeline_def(enable_checkpointing=True, enable_conditionals=family.conditionals)
    def pipeline():
        *fed, index, row, skipped, reasons = fn.external_source(
            source=source, num_outputs=len(specs), batch=False, parallel=source_workers > 0,
            dtype=[spec.dtype for spec in specs], layout=[spec.layout for spec in specs])
        outputs = family.graph({spec.name: node for spec, node in zip(specs, fed)}, cfg, device, **graph_args)
        return (*outputs, index, row, skipped, reasons)

    workers = dict(py_num_workers=source_workers, py_start_method="spawn") if source_workers > 0 else {}
    return pipeline(checkpoint=checkpoint, **workers, **pipe_args)


def _to_torch(tensor_list, target: torch.device) -> torch.Tensor:
    """A dense torch copy of a DALI TensorList (GPU lists copied on the current CUDA stream)."""
    if isinstance(tensor_list, TensorListGPU):
        from nvidia.dali.plugin.pytorch import feed_ndarray, to_torch_type

        dense = tensor_list.as_tensor()
        out = torch.empty(dense.shape(), dtype=to_torch_type[dense.dtype], device=target)
        feed_ndarray(dense, out, cuda_stream=torch.cuda.current_stream(target))
        return out
    return torch.from_numpy(tensor_list.as_array()).to(target)  # as_array copies: DALI reuses its buffers


def _interleave_rotations(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """image_0..image_3 [B, ...] to image [4B, ...] with rows 4b..4b+3 = sample b turned 0..3 times."""
    images = torch.stack([batch.pop(f"image_{k}") for k in range(NUM_ROTATIONS)], dim=1)
    count = images.shape[0]
    interleaved = {name: tensor.repeat_interleave(NUM_ROTATIONS, dim=0) for name, tensor in batch.items()}
    interleaved["image"] = images.flatten(0, 1)
    interleaved["label"] = torch.arange(NUM_ROTATIONS, device=images.device).repeat(count)
    return interleaved
