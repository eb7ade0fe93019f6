"""What the evaluation recipes share: their common flags, the labelled splits, feature extraction into
a store (in this process or as Ray tasks), and how they print and save results."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from mmssl.eval.evaluated_run import MODALITIES, EvaluatedRun, SourceBuilder
from mmssl.eval.feature_store import FeatureStore, extract
from mmssl.data.store import StoreAccessError
from mmssl.eval.labelled_data import DEFAULT_CACHE, LabelledData, held_out_split, labelled_dataset
from mmssl.eval.linear_probe import LabelledRows



def add_evaluation_arguments(parser: argparse.ArgumentParser) -> None:
    """--checkpoint, --data and the options every evaluation recipe takes."""
    parser.add_argument("--checkpoint", required=True, metavar="RUN_DIR",
                        help="a training run's directory (the 'run directory' its summary printed), or its URI "
                             "on an object store (s3://bucket/runs/NAME); its latest checkpoint is evaluated")
    parser.add_argument("--data", required=True, metavar="LABELLED_DIR",
                        help="labelled data: a folder with one sub-folder per class (optionally under train/ and "
                             "val/), or a prepared dataset with labels.parquet beside its manifest (a directory, or "
                             "a URI on an object store: s3://bucket/prefix)")
    parser.add_argument("--held-out-data", metavar="DIR",
                        help="score on this labelled dataset instead of a held-out part of --data")
    parser.add_argument("--held-out-fraction", type=float, default=0.2,
                        help="share of each class held out when --data names no split (default 0.2)")
    parser.add_argument("--modality", choices=MODALITIES,
                        help="which network of the run to evaluate (default: image for image runs, video otherwise; "
                             "audio for the audio network of an audio-visual run)")
    parser.add_argument("--random-init", action="store_true",
                        help="evaluate the run's network as it was initialised, not trained (the baseline)")
    parser.add_argument("--num-workers", type=int, default=1,
                        help="extract features with this many Ray tasks (default 1: in this process)")
    parser.add_argument("--address", help="Ray cluster for --num-workers > 1 (default: a local Ray)")
    parser.add_argument("--batch-size", type=int, default=64, help="extraction batch size (default 64)")
    parser.add_argument("--features-dir", help="keep the extracted features here (default: a temporary directory)")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE,
                        help=f"where labelled class folders are prepared, once (default {DEFAULT_CACHE})")


@dataclass(frozen=True)
class Splits:
    """Where the training and held-out rows come from (one dataset split in two, or two datasets)."""

    train: LabelledData
    held_out: LabelledData
    train_mask: torch.Tensor  # bool by train.data_dir's manifest index
    held_out_mask: torch.Tensor  # bool by held_out.data_dir's manifest index

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.train.class_names

    def describe(self) -> str:
        train = int((self.train_mask & (self.train.labels >= 0)).sum())
        held = int((self.held_out_mask & (self.held_out.labels >= 0)).sum())
        where = ("a held-out part of the same data" if self.train.data_dir == self.held_out.data_dir
                 else str(self.held_out.data_dir))
        return f"{len(self.class_names)} classes; {train} training samples, {held} held-out samples ({where})"


def labelled_splits(args: argparse.Namespace) -> Splits:
    """The training and held-out split: --held-out-data, the split the data names, or a seeded stratified one."""
    train = labelled_dataset(args.data, args.cache_dir)
    if args.held_out_data:
        held_out = labelled_dataset(args.held_out_data, args.cache_dir)
        if held_out.class_names != train.class_names:
            raise ValueError(f"--held-out-data has classes {held_out.class_names}, --data has {train.class_names}: "
                             "both must name the same classes")
        return Splits(train, held_out, torch.ones_like(train.labels, dtype=torch.bool),
                      torch.ones_like(held_out.labels, dtype=torch.bool))
    mask = train.held_out if train.held_out is not None else held_out_split(train.labels, args.held_out_fraction)
    return Splits(train, train, ~mask, mask)


@contextmanager
def feature_stores(args: argparse.Namespace, run: EvaluatedRun, splits: Splits, layers: tuple[str, ...] | None = None):
    """Yields (training rows, held-out rows) with the features of `run` extracted for both splits."""
    with _store_root(args, run) as root:
        builder = SourceBuilder(run, args.modality, layers)
        train_store = _extract(args, builder, splits.train.data_dir, root / "train")
        held_store = train_store
        if splits.held_out.data_dir != splits.train.data_dir:
            held_store = _extract(args, builder, splits.held_out.data_dir, root / "held_out")
        yield (LabelledRows(train_store, splits.train.labels, splits.train_mask),
               LabelledRows(held_store, splits.held_out.labels, splits.held_out_mask))


@contextmanager
def _store_root(args, run: EvaluatedRun):
    if args.features_dir:
        root = Path(args.features_dir).expanduser() / ("random_init" if run.random_init else "trained")
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="mmssl-features-") as temporary:
        yield Path(temporary)


def _extract(args, builder: SourceBuilder, data_dir: Path, store_dir: Path) -> FeatureStore:
    if (store_dir / "index").is_dir():
        print(f"  re-using the features in {store_dir}")
        return FeatureStore(store_dir)
    print(f"extracting {run_description(builder.run)} features of {data_dir}")
    started_ray = False
    if args.num_workers > 1:
        from mmssl.cluster.ray_runtime import ensure_ray

        started_ray = ensure_ray(args.address, num_cpus=None)
    try:
        return extract(builder, data_dir, store_dir, num_workers=args.num_workers, batch_size=args.batch_size)
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def run_description(run: EvaluatedRun) -> str:
    spec = run.spec
    return f"{run.label} {spec.method} ({run.run_dir.name})"


def run_and_splits(args: argparse.Namespace) -> tuple[EvaluatedRun, Splits] | None:
    """The evaluated run and the labelled splits, or None after printing why not (the recipe exits 2)."""
    try:
        return EvaluatedRun.load(args.checkpoint, args.random_init), labelled_splits(args)
    except (FileNotFoundError, ValueError, StoreAccessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def label_and_value(item: str, flag: str, what: str) -> tuple[str, str]:
    """`LABEL=VALUE` of a repeatable flag such as --compare; names the flag and the form when it is not."""
    label, separator, value = item.partition("=")
    if not separator or not label or not value:
        raise ValueError(f"{flag} {item!r}: expected LABEL={what}")
    return label, value


def write_json(path: str | os.PathLike, values: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2) + "\n")
    print(f"wrote {path}")
