"""`build_loader`: the one entry point the training loop uses for image pipelines.

A Loader owns one DALI pipeline for this rank and turns its outputs into a dict of torch tensors
(on the GPU for device="gpu"). It counts batches so every rank yields exactly `batches_per_epoch`
per epoch, takes a reader checkpoint after every batch (so `checkpoint()` resumes at exactly the
next batch), and routes around samples that fail to decode (see pipelines/corrupt.py).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from nvidia.dali.backend import TensorListGPU

from mmssl.pipelines import ops
from mmssl.pipelines.corrupt import BadSample, bad_samples_in_error, repaired_shards, scan_for_bad_samples
from mmssl.pipelines.image_view import IMAGE_VIEW_OUTPUTS, image_view_pipeline
from mmssl.pipelines.jigsaw import JIGSAW_OUTPUTS, JigsawConfig, TileConfig, jigsaw_pipeline
from mmssl.pipelines.pirl import PIRL_OUTPUTS, PirlConfig, ViewConfig, pirl_pipeline
from mmssl.pipelines.pirl_rotation import PIRL_ROTATION_OUTPUTS, pirl_rotation_pipeline
from mmssl.pipelines.reader import SHUFFLE_BUFFER, ShardSet, batches_per_epoch
from mmssl.pipelines.rotation import (
    ALL_ROTATIONS_OUTPUTS,
    JIGSAW_ROTATION_OUTPUTS,
    NUM_ROTATIONS,
    ROTATION_OUTPUTS,
    RotationConfig,
    jigsaw_rotation_pipeline,
    rotation_pipeline,
)
from mmssl.pipelines.views import ViewsConfig, views_pipeline

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "mmssl.image_loader.v1"
MAX_REPAIRS_PER_BATCH = 64  # a batch with more undecodable samples than this is a broken dataset
INTEGER_OUTPUTS = ("perm", "label", "rotation", "index")


@dataclass(frozen=True)
class Family:
    """A pipeline family: its config type, graph function and output names."""

    config_type: type
    graph: Callable
    output_names: Callable[[Any], tuple[str, ...]]
    uses_permutations: bool = False


FAMILIES = {
    "image": Family(ViewConfig, image_view_pipeline, lambda cfg: IMAGE_VIEW_OUTPUTS),
    "pirl": Family(PirlConfig, pirl_pipeline, lambda cfg: PIRL_OUTPUTS, True),
    "pirl_rotation": Family(PirlConfig, pirl_rotation_pipeline, lambda cfg: PIRL_ROTATION_OUTPUTS, True),
    "jigsaw": Family(JigsawConfig, jigsaw_pipeline, lambda cfg: JIGSAW_OUTPUTS, True),
    "rotation": Family(
        RotationConfig, rotation_pipeline, lambda cfg: ALL_ROTATIONS_OUTPUTS if cfg.all_rotations else ROTATION_OUTPUTS
    ),
    "jigsaw_rotation": Family(TileConfig, jigsaw_rotation_pipeline, lambda cfg: JIGSAW_ROTATION_OUTPUTS, True),
    "views": Family(ViewsConfig, views_pipeline, lambda cfg: cfg.output_names),
}


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
        if isinstance(value, dict) and fields[name].type in ("ops.ColorJitter", ops.ColorJitter):
            value = ops.ColorJitter(**value)
        values[name] = tuple(value) if isinstance(value, list) else value
    return config_type(**values)


def build_loader(pipeline: str, data_dir, *, batch_size: int, device: str = "cpu", device_id: int | None = None,
                 shard_id: int = 0, num_shards: int = 1, seed: int = 0, num_threads: int = 2,
                 checkpoint: str | None = None, options: dict | None = None) -> "Loader":
    """A loader of `pipeline` over the prepared dataset `data_dir` for rank `shard_id` of `num_shards`."""
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    if device == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("device='gpu' needs CUDA, and torch sees no GPU here; use device='cpu'")
    if batch_size < 1 or num_threads < 1:
        raise ValueError(f"batch_size and num_threads must be >= 1, got {batch_size}, {num_threads}")
    if not 0 <= shard_id < num_shards:
        raise ValueError(f"shard_id must be in 0..{num_shards - 1}, got {shard_id}")
    cfg = make_config(pipeline, options)
    if device == "gpu" and device_id is None:
        device_id = torch.cuda.current_device()
    return Loader(pipeline, cfg, ShardSet.from_dataset(data_dir), batch_size=batch_size, device=device,
                  device_id=device_id if device == "gpu" else None, shard_id=shard_id, num_shards=num_shards,
                  seed=seed, num_threads=num_threads, checkpoint=checkpoint)


class Loader:
    """One rank's epochs of batches; owns the DALI pipeline, the batch position and the skip list."""

    def __init__(self, pipeline: str, cfg, shards: ShardSet, *, batch_size: int, device: str, device_id: int | None,
                 shard_id: int, num_shards: int, seed: int, num_threads: int, checkpoint: str | None):
        self.pipeline, self.cfg, self.device = pipeline, cfg, device
        self.family = FAMILIES[pipeline]
        self.batch_size, self.shard_id, self.num_shards = batch_size, shard_id, num_shards
        self._build_args = dict(batch_size=batch_size, num_threads=num_threads, device_id=device_id,
                                seed=seed + 7919 * shard_id)
        self._shards = shards
        self._permutations = cfg.permutation_set() if self.family.uses_permutations else None
        self.batches_per_epoch = batches_per_epoch(shards.num_samples, batch_size, num_shards)
        self.epoch, self._batch_in_epoch, self.bad_samples = 0, 0, []
        self._dali_state: bytes | None = None
        if checkpoint is not None:
            self._restore(checkpoint)
        self._repair_dir: tempfile.TemporaryDirectory | None = None  # repaired index files, removed with the loader
        self._pipe = self._build()

    @property
    def samples_skipped(self) -> int:
        """Samples that failed to decode so far (each counted once; it stays skipped in later epochs)."""
        return len(self.bad_samples)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        """The rest of the current epoch (all of it on a fresh or finished epoch): batches_per_epoch batches."""
        if self._batch_in_epoch == self.batches_per_epoch:
            self.epoch, self._batch_in_epoch = self.epoch + 1, 0
        while self._batch_in_epoch < self.batches_per_epoch:
            outputs = self._run()
            self._batch_in_epoch += 1
            yield self._to_batch(outputs)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def checkpoint(self) -> str:
        """JSON state from which `build_loader(..., checkpoint=it)` yields exactly the next batch."""
        return json.dumps({
            "format": CHECKPOINT_FORMAT, "pipeline": self.pipeline, "batch_size": self.batch_size,
            "shard_id": self.shard_id, "num_shards": self.num_shards, "epoch": self.epoch,
            "batch_in_epoch": self._batch_in_epoch,
            "dali": base64.b64encode(self._dali_state).decode() if self._dali_state is not None else None,
            "bad_samples": [dataclasses.astuple(b) for b in self.bad_samples],
        })

    def _restore(self, checkpoint: str) -> None:
        state = json.loads(checkpoint)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not an image loader checkpoint (format {state.get('format')!r}, want {CHECKPOINT_FORMAT})")
        mine = {"pipeline": self.pipeline, "batch_size": self.batch_size, "shard_id": self.shard_id,
                "num_shards": self.num_shards}
        different = {k: (state[k], v) for k, v in mine.items() if state[k] != v}
        if different:
            raise ValueError(f"checkpoint was taken with other settings (saved, now): {different}; build the loader "
                             "with the saved ones (reader positions are per rank and batch size)")
        self.epoch, self._batch_in_epoch, self._dali_state = state["epoch"], state["batch_in_epoch"], state["dali"]
        if self._dali_state is not None:
            self._dali_state = base64.b64decode(self._dali_state)
        self.bad_samples = [BadSample(*b) for b in state["bad_samples"]]

    def _build(self):
        shards = self._shards
        if self.bad_samples:
            self._repair_dir = self._repair_dir or tempfile.TemporaryDirectory(prefix="mmssl-repaired-idx-")
            shards = repaired_shards(self._shards, self.bad_samples, Path(self._repair_dir.name))
        extra = {"permutations": self._permutations} if self.family.uses_permutations else {}
        pipe = self.family.graph(shards, self.cfg, device=self.device, shard_id=self.shard_id,
                                 num_shards=self.num_shards, checkpoint=self._dali_state, **extra, **self._build_args)
        pipe.build()
        return pipe

    def _run(self):
        """One batch of DALI outputs; on a decode failure, skip the named samples and rebuild."""
        for _ in range(MAX_REPAIRS_PER_BATCH):
            try:
                outputs = self._pipe.run()
            except RuntimeError as error:
                self._skip_bad_samples(error)
                continue
            self._dali_state = self._pipe.checkpoint()
            return outputs
        raise RuntimeError(f"more than {MAX_REPAIRS_PER_BATCH} undecodable samples in one batch of rank {self.shard_id} "
                           f"(skipped so far: {[b.tar_path for b in self.bad_samples[:3]]}...); the dataset looks "
                           "broken: re-run preparation on it")

    def _skip_bad_samples(self, error: RuntimeError) -> None:
        if "decoders.image" not in str(error):
            raise error  # not a decode failure: a real bug or bad settings, not bad data
        bad = bad_samples_in_error(str(error), self._shards)
        if not bad:
            log.warning("pipeline error names no sample; decoding this rank's recent samples to find it: %s", error)
            bad = scan_for_bad_samples(self._shards, self._suspect_positions())
        new = [b for b in bad if b not in self.bad_samples]
        if not new:
            raise error
        for sample in new:
            log.warning("skipping undecodable sample %s in %s", sample.member, sample.tar_path)
        self.bad_samples.extend(new)
        del self._pipe
        self._pipe = self._build()  # from the state after the last good batch

    def _suspect_positions(self) -> list[int]:
        """This epoch's slice of the samples (reader order), nearest the reader's position first.

        With stick_to_shard=False rank r reads slice (r + epoch) % num_shards; after k batches the
        reader has read about k * batch_size + SHUFFLE_BUFFER samples into it, and the shuffle buffer
        mostly serves recent ones.
        """
        total, part = self._shards.num_samples, (self.shard_id + self.epoch) % self.num_shards
        start, stop = total * part // self.num_shards, total * (part + 1) // self.num_shards
        reader_at = min(start + (self._batch_in_epoch + 1) * self.batch_size + SHUFFLE_BUFFER, stop)
        return sorted(range(start, stop), key=lambda position: abs(position - reader_at))

    def _to_batch(self, outputs) -> dict[str, torch.Tensor]:
        target = torch.device("cuda", self._build_args["device_id"]) if self.device == "gpu" else torch.device("cpu")
        batch = {}
        for name, tensor_list in zip(self.family.output_names(self.cfg), outputs):
            tensor = _to_torch(tensor_list, target)
            batch[name] = tensor.long() if name in INTEGER_OUTPUTS else tensor
        if getattr(self.cfg, "all_rotations", False):
            batch = _interleave_rotations(batch)
        return batch


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

