"""Build and run Ray Train's TorchTrainer for a RunSpec; summarise the result.

The run directory is the driver's: its files come from the ranks' reports (run_files.RunFiles). It
is a local directory, or a prefix on an object store (`--storage s3://bucket/runs`, run_storage.py),
where Ray Train keeps the checkpoints through its own storage support."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import ray.train
from ray.train.torch import TorchConfig, TorchTrainer

from mmssl.cluster.run_files import BAD_SAMPLES_FILE, RunFiles, without_records
from mmssl.objectives import METHODS
from mmssl.train.config import RunSpec
from mmssl.train.run_record import write_run_spec
from mmssl.cluster.run_storage import RunStorage
from mmssl.train.worker import train_worker


@dataclass
class RunSummary:
    run_dir: str
    checkpoint: str | None
    metrics: dict
    wall_time_s: float

    def describe(self) -> str:
        m = self.metrics
        lines = [
            "run finished",
            f"  wall time:        {self.wall_time_s:.1f} s (training {m.get('train_time_s', float('nan')):.1f} s)",
            f"  steps:            {m.get('step')} (epoch {m.get('epoch')})",
            f"  final loss:       {m.get('loss', float('nan')):.4f}",
            f"  throughput:       {m.get('samples_per_s', float('nan')):.1f} samples/s (last interval, all workers)",
            f"  loader wait:      {100 * m.get('loader_wait_fraction', float('nan')):.1f}% of step time",
            f"  samples:          {self.describe_samples()}",
            f"  last checkpoint:  {self.checkpoint}",
            f"  run directory:    {self.run_dir} (tensorboard --logdir {Path(self.run_dir) / 'tensorboard'})",
        ]
        return "\n".join(lines)

    def describe_samples(self) -> str:
        """`480 image used, 2 image skipped (failed to decode); not used: 40 video (pipeline reads image)`."""
        m = self.metrics
        modality, skipped = m.get("modality", "?"), m.get("samples_skipped", 0)
        used = m["samples_used"] - skipped if "samples_used" in m else "?"
        text = f"{used} {modality} used, {skipped} {modality} skipped (failed to decode"
        text += f"; listed in {BAD_SAMPLES_FILE})" if skipped else ")"
        names = {"image": "image", "video": "video", "audio": "sound-only"}
        unused = ", ".join(f"{m[f'unused_{kind}_samples']} {name}" for kind, name in names.items()
                           if m.get(f"unused_{kind}_samples"))
        return f"{text}; not used: {unused} (the pipeline reads {modality})" if unused else text


def run_training(spec: RunSpec) -> RunSummary:
    """Fit `spec` with one worker per GPU (or CPU workers on gloo); Ray must already be initialised."""
    _, method_class = METHODS[spec.method]
    if spec.train.precise_bn_batches and not hasattr(method_class, "forward_for_bn_statistics"):
        raise ValueError(f"train.precise_bn_batches={spec.train.precise_bn_batches}: method {spec.method!r} does not "
                         "say how to run its networks for BN statistics (no forward_for_bn_statistics); set it to 0")
    if spec.cluster.name is None:
        spec.cluster.name = f"{spec.method}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    storage = RunStorage.of(spec.cluster.storage_path, spec.cluster.name)
    storage.open()  # a store: checked now, and a resumed run's files brought into the local staging copy
    directory = storage.staging
    write_run_spec(spec, directory)  # what evaluation recipes rebuild the network from
    storage.upload()
    storage_path, storage_filesystem = storage.ray_storage()
    resources = {"CPU": spec.cluster.cpus_per_worker}
    if spec.cluster.use_gpu:
        resources["GPU"] = 1
    trainer = TorchTrainer(
        train_worker,
        train_loop_config={"spec": spec},
        torch_config=TorchConfig(backend="nccl" if spec.cluster.use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=spec.cluster.num_workers, use_gpu=spec.cluster.use_gpu, resources_per_worker=resources
        ),
        run_config=ray.train.RunConfig(
            name=spec.cluster.name,
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,
            failure_config=ray.train.FailureConfig(max_failures=spec.cluster.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=spec.train.keep_checkpoints),
            callbacks=[RunFiles(storage)],
        ),
    )
    started = time.perf_counter()
    result = trainer.fit()
    summary = RunSummary(
        run_dir=storage.display,
        checkpoint=_checkpoint_name(storage, result.checkpoint.path) if result.checkpoint else None,
        metrics=without_records(result.metrics or {}),
        wall_time_s=time.perf_counter() - started,
    )
    (directory / "summary.json").write_text(json.dumps(summary.__dict__, indent=2, default=str))
    storage.upload()
    return summary


def _checkpoint_name(storage: RunStorage, path: str) -> str:
    """The checkpoint as the user names it: a local path, or a URI under the run's URI on a store."""
    return storage.location.describe(path.rstrip("/").rsplit("/", 1)[-1]) if storage.remote else path
