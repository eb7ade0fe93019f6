"""The network an evaluation scores: a training run's latest checkpoint, or the same network as the
run initialised it (the random-init baseline), and the feature source that fits its modality.

Everything here is rebuilt from the run directory alone, so Ray tasks can rebuild it on any node
that sees the run directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mmssl.eval.layer_features import POOLED, FeatureSource, audio_pooled, image_layers, image_pooled, video_pooled
from mmssl.models.image_backbone import STAGES
from mmssl.train.config import RunSpec
from mmssl.data.store import is_uri
from mmssl.train.run_record import latest_checkpoint, read_run_spec

AUDIO_OPTIONS = ("audio_s", "sample_rate_hz", "n_mels", "hop_ms", "window_ms")
MODALITIES = ("image", "video", "audio")


def trained_modality(spec: RunSpec) -> str:
    """What the run's pipeline fed it: "image" for the photo families, else "video"."""
    from mmssl.pipelines.loader import FAMILIES

    return "image" if "jpg" in FAMILIES[spec.pipeline].members else "video"


def evaluation_source(spec: RunSpec, method, modality: str | None = None,
                      layers: tuple[str, ...] | None = None) -> FeatureSource:
    """Evaluation views at the size `spec`'s network trained on, and the features of its `modality`
    network: for images every ResNet stage pooled to ~9k dims, or with layers ("pooled",) the global
    pooled one; for video and audio the pooled one."""
    from mmssl.eval.knn_report import eval_clip_options, eval_image_size

    modality = modality or trained_modality(spec)
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    options = spec.pipeline_options
    if modality == "image":
        if layers == (POOLED,):
            return image_pooled(method, eval_image_size(options))
        return image_layers(method, eval_image_size(options), layers or STAGES)
    if modality == "video":
        return video_pooled(method, eval_clip_options(options))
    audio_options = {name: options[name] for name in AUDIO_OPTIONS if name in options}
    return audio_pooled(method, dict(audio_options, augment=False))


@dataclass(frozen=True)
class EvaluatedRun:
    """A run directory, and whether its trained weights or its initial weights are evaluated."""

    run_dir: Path
    random_init: bool = False

    @classmethod
    def load(cls, run_dir: str | os.PathLike, random_init: bool = False) -> "EvaluatedRun":
        """The run, with its spec and checkpoint read now: a directory that is not a run, or a run with
        no complete checkpoint, fails here with the fix named, before any extraction. A run on an object
        store (`s3://bucket/runs/NAME`) is read from a local copy of its files and latest checkpoint."""
        if is_uri(run_dir):
            from mmssl.cluster.run_storage import local_run_copy

            run_dir = local_run_copy(str(run_dir))
        run = cls(Path(run_dir).expanduser(), random_init)
        run.spec  # not a run directory: FileNotFoundError naming the fix (the value stays cached)
        run.checkpoint  # no complete checkpoint: likewise
        return run

    @cached_property
    def spec(self) -> RunSpec:
        return read_run_spec(self.run_dir)

    @cached_property
    def checkpoint(self) -> Path | None:
        return None if self.random_init else latest_checkpoint(self.run_dir)

    @property
    def label(self) -> str:
        return "random init" if self.random_init else "trained"

    def method(self):
        """The method with the checkpoint's model weights (or as seeded at the run's start); its memory
        bank is not restored: evaluation needs the network only."""
        from mmssl.eval.knn_report import fresh_method

        checkpoint = self.checkpoint
        return fresh_method(self.spec, num_samples=2, checkpoint_dir=None if checkpoint is None else str(checkpoint))

    def feature_source(self, modality: str | None = None, layers: tuple[str, ...] | None = None) -> FeatureSource:
        return evaluation_source(self.spec, self.method(), modality, layers)


class SourceBuilder:
    """Picklable recipe for a FeatureSource, so each Ray extraction task rebuilds the network itself."""

    def __init__(self, run: EvaluatedRun, modality: str | None, layers: tuple[str, ...] | None):
        self.run, self.modality, self.layers = run, modality, layers

    def __call__(self) -> FeatureSource:
        return self.run.feature_source(self.modality, self.layers)
