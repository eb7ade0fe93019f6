"""Invariance of a representation to Jigsaw shuffles or rotations (PIRL paper, section 5.1).

    python -m mmssl.recipes.invariance --checkpoint RUN_DIR --transform jigsaw --plot inv.png --json inv.json
    python -m mmssl.recipes.invariance --checkpoint PIRL_RUN --compare "jigsaw=JIGSAW_RUN" --plot inv.png

For every image of --data (default: the run's own training data), centre-cropped at the size the
network trained on: the L2 distance between the normalised pooled features of the image and of its
transformed version (3 x 3 tiles shuffled, or a 90/180/270 degree turn). Prints summary statistics,
writes them as JSON and the histogram as a PNG; --compare adds other runs to both.

--representation heads (PIRL runs, jigsaw transform): the paper's own pair instead, PIRL's image
embedding f(v_I) against its tile-path embedding g(v_It) of the shuffled tiles. The pooled trunk
feature of a reassembled image is nearly blind to where tiles sit (global average pooling), so it
says little about Jigsaw invariance; the heads are what PIRL trains to agree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mmssl.eval.eval_cli import label_and_value, write_json
from mmssl.eval.evaluated_run import EvaluatedRun
from mmssl.eval.knn_report import eval_image_size
from mmssl.eval.invariance import TRANSFORMS, DistanceSummary, invariance_distances, pirl_head_distances
from mmssl.pipelines.each_sample_once import each_sample_once

PROG = "mmssl.recipes.invariance"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="a training run's directory")
    parser.add_argument("--data", help="a prepared dataset (default: the run's training data)")
    parser.add_argument("--transform", choices=TRANSFORMS, default="jigsaw", help="default jigsaw")
    parser.add_argument("--representation", choices=("pooled", "heads"), default="pooled",
                        help="pooled trunk features (any run; default) or PIRL's image and tile heads")
    parser.add_argument("--random-init", action="store_true", help="the run's network as initialised")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=RUN_DIR",
                        help="another run to measure the same way and draw on the same histogram")
    parser.add_argument("--max-images", type=int, default=2000, help="measure at most this many images (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the shuffles and turns (default 0)")
    parser.add_argument("--json", metavar="OUT.json", help="write {label: summary statistics} here")
    parser.add_argument("--plot", metavar="OUT.png", help="write the distance histograms here")
    return parser


def measure(run: EvaluatedRun, data_dir: str, transform: str, max_images: int, seed: int,
            representation: str = "pooled") -> np.ndarray:
    """Distances for up to `max_images` images of `data_dir` under `run`'s network."""
    spec, method = run.spec, run.method()
    if representation == "heads" and (spec.method != "pirl" or transform != "jigsaw"):
        raise ValueError(f"--representation heads compares PIRL's image and tile heads under the jigsaw "
                         f"transform; {run.run_dir} is a {spec.method} run (use --representation pooled)")
    batches = each_sample_once("center_crop", data_dir, batch_size=64,
                               options={"image_size": eval_image_size(spec.pipeline_options)})

    def first_images():
        taken = 0
        for batch in batches:
            images = batch["image"][: max_images - taken]
            taken += images.shape[0]
            yield images
            if taken >= max_images:
                return

    if representation == "heads":
        return pirl_head_distances(method.model, first_images(), int(spec.pipeline_options.get("tile_px", 64)), seed)
    return invariance_distances(lambda images: method.features(method.model, images), first_images(), transform, seed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        runs = {"": EvaluatedRun.load(args.checkpoint, args.random_init)}
        for item in args.compare:
            label, path = label_and_value(item, "--compare", "RUN_DIR")
            runs[label] = EvaluatedRun.load(path)  # a bad one fails now, not after the first measurement
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summaries, distances = {}, {}
    for label, run in runs.items():
        label = label or f"{run.spec.method} ({run.label})"
        data_dir = args.data or run.spec.data_dir
        if not (Path(data_dir) / "manifest.parquet").exists():
            print(f"error: {data_dir} is not a prepared dataset (no manifest.parquet); pass --data", file=sys.stderr)
            return 2
        try:
            distances[label] = measure(run, data_dir, args.transform, args.max_images, args.seed, args.representation)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        summaries[label] = DistanceSummary.of(distances[label]).as_dict()
    what = "PIRL's f(image) and g(shuffled tiles)" if args.representation == "heads" else "pooled features"
    print(f"L2 distance between normalised {what} of an image and its {args.transform} version "
          "(0: invariant, 2: opposite):")
    print(f"  {'network':<28} {'images':>6} {'mean':>6} {'median':>6} {'p10':>6} {'p90':>6}")
    for label, s in summaries.items():
        print(f"  {label:<28} {s['count']:>6} {s['mean']:>6.3f} {s['median']:>6.3f} {s['p10']:>6.3f} {s['p90']:>6.3f}")
    if args.json:
        write_json(args.json, {"transform": args.transform, "representation": args.representation,
                               "networks": summaries})
    if args.plot:
        from mmssl.eval.plots import plot_histograms

        path = plot_histograms(distances, args.plot, f"invariance to {args.transform}", "L2 distance")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
