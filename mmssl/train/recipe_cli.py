"""The command line every recipe shares: data, cluster, overrides; and the run from config to summary.

A recipe module supplies a typed config (paper defaults), a smaller embedded-default config for a
laptop, and the method/pipeline names; this module parses, validates, prints, runs and summarises.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mmssl.data.manifest import read_manifest
from mmssl.data.store import StoreAccessError, is_uri
from mmssl.train.config import ClusterConfig, OptimConfig, RunSpec, TrainConfig
from mmssl.train.config_overrides import apply_overrides, format_config


@dataclass(frozen=True)
class EmbeddedRun:
    """What a recipe's embedded default trains on, and how it shows that learning happened.

    `dataset(cache_dir)` -> (prepared training data, what `evaluate` needs); `evaluate(spec,
    checkpoint_dir, that)` -> a report with `describe()`; `description`: for --help.
    """

    dataset: Callable
    evaluate: Callable
    description: str


def imported_later(target: str) -> Callable:
    """`module:function`, imported on first call: recipes list their evaluation without importing
    DALI and the models when only --help or --print-config is asked for."""
    module_name, function_name = target.split(":")

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module_name), function_name)(*args, **kwargs)

    return call


IMAGE_KNN = EmbeddedRun(
    imported_later("mmssl.train.embedded:embedded_dataset"),
    imported_later("mmssl.eval.knn_report:compare_with_random_init"),
    "generates a small synthetic dataset of labelled images (cached under\n--cache-dir), starts a local Ray, "
    "trains briefly on CPU, and reports kNN accuracy of the\nlearned features against a randomly initialised network.")
OBJECT_KNN = EmbeddedRun(
    imported_later("mmssl.train.embedded:embedded_object_dataset"),
    imported_later("mmssl.eval.knn_report:compare_with_random_init"),
    "generates small labelled images of one centred object each (cached under\n--cache-dir), starts a local Ray, "
    "trains briefly on CPU, and reports kNN accuracy of the\nlearned features against a randomly initialised network.")
VIDEO_KNN = EmbeddedRun(
    imported_later("mmssl.train.embedded:embedded_video_dataset"),
    imported_later("mmssl.eval.knn_report:compare_clips_with_random_init"),
    "generates small labelled videos and held-out ones (cached under\n--cache-dir), starts a local Ray, trains "
    "briefly on CPU, and reports kNN accuracy of clip\nfeatures on the held-out videos' classes, trained against a "
    "randomly initialised network.")


@dataclass
class RecipeConfig:
    """What a recipe runs: method + its config, pipeline + its options, and the shared groups."""

    method: object
    pipeline: str
    pipeline_options: dict
    train: TrainConfig
    optim: OptimConfig
    cluster: ClusterConfig


def build_parser(prog: str, description: str, embedded: EmbeddedRun = IMAGE_KNN) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            f"With no --data, runs the embedded default: {embedded.description}\n\n"
            "Override any config key with --set, e.g.:\n"
            f"  python -m {prog} --data /data/yfcc --address auto --num-workers 32 --gpu \\\n"
            "      --set train.epochs=100 --set train.batch_size=64\n"
            "Re-using --name with the same --storage resumes that run from its last checkpoint."
        ),
    )
    parser.add_argument("--data", help="a prepared dataset (tools/prepare_data.py output): a directory, or a URI on "
                        "an object store, e.g. s3://bucket/prefix (see README: datasets on object storage)")
    add_cluster_arguments(parser)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable), e.g. train.batch_size=64")
    parser.add_argument("--cache-dir", default="~/.cache/mmssl", help="where the embedded default's dataset is kept")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--no-eval", action="store_true", help="skip the embedded default's evaluation after training")
    return parser


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how wide a training run goes: the flags `resolve_config` reads into `cluster`."""
    parser.add_argument("--address", help="Ray cluster address, e.g. 'auto'; default: start a local Ray")
    parser.add_argument("--num-workers", type=int, help="training workers (one per GPU); default from the config")
    gpu = parser.add_mutually_exclusive_group()
    gpu.add_argument("--gpu", dest="use_gpu", action="store_true", default=None, help="one GPU per worker (NCCL)")
    gpu.add_argument("--cpu", dest="use_gpu", action="store_false", help="CPU workers (gloo)")
    parser.add_argument("--storage", help="where runs, checkpoints and TensorBoard logs go (default ~/mmssl_runs)")
    parser.add_argument("--name", help="run name; an existing name resumes that run")
    parser.add_argument("--wait-for-resources-s", type=float, metavar="S",
                        help="on an autoscaling cluster: if the workers' CPUs/GPUs are not there yet, ask the "
                        "autoscaler and wait up to S seconds for them instead of refusing at once "
                        "(cluster.wait_for_resources_s; default 0)")


def resolve_config(config: RecipeConfig, args: argparse.Namespace) -> RecipeConfig:
    """Command-line flags first, then --set overrides (which win)."""
    cluster = config.cluster
    for flag, key in (("address", "address"), ("num_workers", "num_workers"), ("use_gpu", "use_gpu"),
                      ("storage", "storage_path"), ("name", "name"), ("wait_for_resources_s", "wait_for_resources_s")):
        value = getattr(args, flag)
        if value is not None:
            cluster = dataclasses.replace(cluster, **{key: value})
    config = dataclasses.replace(config, cluster=cluster)
    return apply_overrides(config, args.overrides)


def run_recipe(
    method_name: str,
    full_config: Callable[[], RecipeConfig],
    embedded_config: Callable[[], RecipeConfig],
    prog: str,
    description: str,
    argv: list[str] | None = None,
    embedded_run: EmbeddedRun = IMAGE_KNN,
) -> int:
    """Parse, validate, print, prepare data, train on Ray, print the summary (and the embedded evaluation)."""
    args = build_parser(prog, description, embedded_run).parse_args(argv)
    embedded = args.data is None
    try:
        config = resolve_config(embedded_config() if embedded else full_config(), args)
        from mmssl.pipelines.loader import make_config

        make_config(config.pipeline, config.pipeline_options)  # bad pipeline options fail here, not in the workers
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"== {prog}: {'embedded default (no --data given)' if embedded else args.data}")
    print(format_config(config))
    if args.print_config:
        return 0

    if embedded:
        data_dir, evaluation_data = embedded_run.dataset(Path(args.cache_dir).expanduser())
    else:
        data_dir, evaluation_data = (args.data if is_uri(args.data) else Path(args.data)), None
        try:
            read_manifest(data_dir, columns=["index"])  # names the missing file and how to prepare it
        except (FileNotFoundError, StoreAccessError) as error:  # a missing bucket, refused credentials
            print(f"error: {error}", file=sys.stderr)
            return 2
        except (OSError, ValueError) as error:  # unreadable: permissions, a damaged parquet file
            print(f"error: cannot read the dataset in {data_dir} ({error}); check its permissions, "
                  "or re-run preparation into a new directory", file=sys.stderr)
            return 2
    if config.train.knn_every_epochs:
        from mmssl.eval.labelled_data import DEFAULT_CACHE
        from mmssl.eval.periodic_knn import prepared_knn_data

        try:  # a class-folder tree is prepared here, once, so the workers read shards
            knn_data = prepared_knn_data(config.train.knn_data, DEFAULT_CACHE)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: train.knn_data: {error}", file=sys.stderr)
            return 2
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, knn_data=knn_data))
    trained = train_on_ray(method_name, config, data_dir, local_cpus=cpus_for_local_ray(config) if embedded else None)
    if trained is None:
        return 2
    spec, summary = trained
    if evaluation_data is not None and not args.no_eval and summary.checkpoint:
        print(embedded_run.evaluate(spec, summary.checkpoint, evaluation_data).describe())
    return 0


def train_on_ray(method_name: str, config: RecipeConfig, data_dir: Path | str, local_cpus: int | None = None):
    """Start (or join) Ray, check the cluster can hold the workers, train, print the summary.

    Returns (RunSpec, RunSummary), or None after printing why the cluster cannot run it.
    """
    import ray

    from mmssl.cluster.ray_runtime import ensure_ray
    from mmssl.cluster.resources import wait_for_resources
    from mmssl.cluster.trainer import run_training

    started_ray = ensure_ray(config.cluster.address, num_cpus=local_cpus)
    try:
        problem = wait_for_resources(config.cluster)  # refuses at once unless cluster.wait_for_resources_s > 0
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return None
        spec = RunSpec(method_name, config.method, config.pipeline, str(data_dir), config.pipeline_options,
                       config.train, config.optim, config.cluster)
        summary = run_training(spec)
        print(summary.describe())
        return spec, summary
    finally:
        if started_ray:
            ray.shutdown()


def cpus_for_local_ray(config: RecipeConfig) -> int:
    import os

    needed = int(config.cluster.num_workers * config.cluster.cpus_per_worker + 0.999)
    return max(needed, os.cpu_count() or 1)
