"""ClusterFit (Yan et al., 2020): cluster a trained network's features, train a new network from
scratch to predict the clusters, and compare the two networks with a linear probe.

    python -m mmssl.recipes.clusterfit --checkpoint RUN_DIR                  # the run's own data
    python -m mmssl.recipes.clusterfit --checkpoint RUN_DIR --clusters 16000 --address auto --num-workers 32 --gpu \\
        --probe-data /data/imagenet_labelled

1. Features: the pooled features of RUN_DIR's latest checkpoint over every image of --data (default:
   the data the run trained on), centre-cropped, no augmentation; in chunks on disk, with
   --extract-workers Ray tasks.
2. k-means (k-means++ seeding, Lloyd iterations, in torch: on the GPU when there is one) into
   --clusters groups. The pseudo-labels go beside the manifest as pseudo_labels_<run>_k<K>.parquet
   (labels.parquet's format), a deterministic function of the features and --seed.
3. A new network of the same architecture, from scratch, learns to predict them on Ray Train (the
   `image` pipeline: random resized crop, flip, colour jitter), with the first run's training,
   optimiser and cluster settings unless --set says otherwise.
4. Linear probe (res5 and the layers below) of the new network and of the original on --probe-data
   (default: --data when it has labels.parquet), both printed; --json writes both curves.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from mmssl.eval.evaluated_run import EvaluatedRun, SourceBuilder
from mmssl.eval.feature_store import extract
from mmssl.eval.kmeans import kmeans
from mmssl.eval.knn_report import eval_image_size
from mmssl.eval.labelled_data import DEFAULT_CACHE, LABELS_FILE, write_labels
from mmssl.eval.layer_features import POOLED
from mmssl.objectives.clusterfit import ClusterFitConfig
from mmssl.train.recipe_cli import (RecipeConfig, add_cluster_arguments, cpus_for_local_ray, format_config, resolve_config,
                                    train_on_ray)

PROG = "mmssl.recipes.clusterfit"
METHOD = "clusterfit"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="the trained run whose features are clustered")
    parser.add_argument("--data", help="prepared dataset to cluster and train on (default: the run's training data)")
    parser.add_argument("--clusters", type=int,
                        help="k (default: samples / 20, at most 16000, the paper's k for ImageNet-sized data)")
    parser.add_argument("--kmeans-iterations", type=int, default=30, help="Lloyd iterations at most (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seeds k-means (default 0)")
    parser.add_argument("--extract-workers", type=int, default=1, help="Ray tasks extracting features (default 1)")
    parser.add_argument("--probe-data", metavar="LABELLED_DIR",
                        help="labelled data for the final linear probe (default: --data if it has labels.parquet)")
    parser.add_argument("--probe-held-out-data", metavar="DIR", help="score the probe on this labelled dataset")
    parser.add_argument("--probe-layers", default="res4,res5", help="layers probed (default res4,res5)")
    parser.add_argument("--json", metavar="OUT.json", help="write {'original': {layer: top-1}, 'clusterfit': {...}}")
    add_cluster_arguments(parser)  # --storage defaults to beside the first run
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the new run's config, e.g. train.max_steps=500")
    parser.add_argument("--print-config", action="store_true", help="print the new run's config and exit")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE, help="where labelled class folders are prepared")
    return parser


def training_config(original: EvaluatedRun, pseudo_labels: Path, clusters: int) -> RecipeConfig:
    """The new network: the original's architecture and training settings, predicting the clusters."""
    spec = original.spec
    backbone = getattr(spec.method_config, "backbone", "resnet50")
    return RecipeConfig(
        method=ClusterFitConfig(pseudo_labels=str(pseudo_labels), num_clusters=clusters, backbone=backbone),
        pipeline="image",
        pipeline_options={"image_size": eval_image_size(spec.pipeline_options)},
        train=dataclasses.replace(spec.train, fail_at_step=None),
        optim=spec.optim,
        cluster=dataclasses.replace(spec.cluster, name=None),
    )


def cluster(run: EvaluatedRun, data_dir: Path, store_dir: Path, args) -> tuple[Path, int]:
    """Extract, cluster, and write the pseudo-labels beside the manifest; returns (file, k)."""
    from mmssl.data.manifest import read_manifest

    store = extract(SourceBuilder(run, "image", (POOLED,)), data_dir, store_dir, num_workers=args.extract_workers)
    features, index = store.whole(POOLED)
    clusters = args.clusters or max(2, min(16000, features.shape[0] // 20))
    print(f"k-means: {features.shape[0]} features of {features.shape[1]} dims into {clusters} clusters")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = kmeans(torch.nn.functional.normalize(features, dim=1).to(device), clusters,
                    iterations=args.kmeans_iterations, seed=args.seed)
    sizes = torch.bincount(result.assignments.cpu(), minlength=clusters)
    print(f"  {result.iterations} iterations, inertia {result.inertia:.2f}, cluster sizes "
          f"{int(sizes.min())}..{int(sizes.max())} (median {int(sizes.median())})")
    labels = torch.full((read_manifest(data_dir, columns=["index"]).num_rows,), -1, dtype=torch.long)
    labels[index] = result.assignments.cpu()
    name = f"pseudo_labels_{run.run_dir.name}_k{clusters}.parquet"
    try:
        path = write_labels(data_dir, labels, tuple(f"cluster_{k}" for k in range(clusters)), file_name=name)
    except OSError as error:
        raise OSError(f"cannot write {name} beside the manifest in {data_dir} ({error}); ClusterFit keeps the "
                      "pseudo-labels with the data: copy the dataset's manifest and members somewhere writable") from error
    print(f"  wrote {path}")
    return path, clusters


def compare_probes(args, original: EvaluatedRun, new_run_dir: Path, data_dir: Path) -> dict | None:
    """Linear probe of both networks on the probe data; None when there is none to probe on."""
    from mmssl.eval.eval_cli import feature_stores, labelled_splits
    from mmssl.eval.linear_probe import ProbeSettings, probe_layer

    probe_data = args.probe_data or (str(data_dir) if (data_dir / LABELS_FILE).exists() else None)
    if probe_data is None:
        print("no --probe-data and no labels.parquet beside the data: skipping the linear-probe comparison")
        return None
    probe_args = argparse.Namespace(data=probe_data, held_out_data=args.probe_held_out_data, held_out_fraction=0.2,
                                    cache_dir=args.cache_dir, features_dir=None, modality="image", num_workers=1,
                                    address=None, batch_size=64)
    splits = labelled_splits(probe_args)
    layers = tuple(args.probe_layers.split(","))
    curves = {}
    for label, run in (("original", original), ("clusterfit", EvaluatedRun(new_run_dir))):
        with feature_stores(probe_args, run, splits, layers) as (train, held_out):
            curves[label] = {layer: probe_layer(layer, train, held_out, len(splits.class_names), ProbeSettings()).held_out_top1
                             for layer in layers}
    print(f"linear probe on {probe_data} ({splits.describe()}; chance {1 / len(splits.class_names):.3f}):")
    print(f"  {'layer':<8} {'original':>9} {'clusterfit':>11}")
    for layer in layers:
        print(f"  {layer:<8} {curves['original'][layer]:>9.3f} {curves['clusterfit'][layer]:>11.3f}")
    return curves


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        original = EvaluatedRun.load(args.checkpoint)
        data_dir = Path(args.data or original.spec.data_dir).expanduser()
        if not (data_dir / "manifest.parquet").exists():
            raise FileNotFoundError(f"{data_dir} is not a prepared dataset (no manifest.parquet); pass --data")
        if args.clusters is not None and args.clusters < 2:
            raise ValueError(f"--clusters {args.clusters}: ClusterFit needs at least 2")
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"== {PROG}: clustering {original.spec.method} features of {data_dir} ({original.run_dir})")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mmssl-clusterfit-") as store_dir:
        pseudo_labels, clusters = cluster(original, data_dir, Path(store_dir), args)
    if args.storage is None:
        args.storage = str(original.run_dir.parent)
    try:
        config = resolve_config(training_config(original, pseudo_labels, clusters), args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_config(config))
    if args.print_config:
        return 0
    trained = train_on_ray(METHOD, config, data_dir, local_cpus=None if config.cluster.address else cpus_for_local_ray(config))
    if trained is None:
        return 2
    _, summary = trained
    curves = compare_probes(args, original, Path(summary.run_dir), data_dir)
    if args.json and curves is not None:
        from mmssl.eval.eval_cli import write_json

        write_json(args.json, curves)
    return 0


if __name__ == "__main__":
    sys.exit(main())
