"""Linear probe per layer on frozen features (the PIRL paper's per-layer evaluation, VISSL protocol).

    python -m mmssl.recipes.linear_probe --checkpoint RUN_DIR --data LABELLED_DIR --json OUT.json
    python -m mmssl.recipes.linear_probe --checkpoint RUN_DIR --data LABELLED_DIR --random-init --json BASE.json
    python -m mmssl.recipes.linear_probe --checkpoint RUN_DIR --data LABELLED_DIR --plot layers.png \\
        --compare "random init=BASE.json" --compare "jigsaw=JIGSAW.json"

Image runs: one linear classifier per ResNet stage (conv1, res2 .. res5), each stage's output
average-pooled to about 9k dimensions. Video runs: the pooled clip feature of the middle clip of each
video (a UCF101-style folder). Audio-visual runs with --modality audio: the audio network's pooled
log-mel feature. Features are extracted through the training pipelines' evaluation views (no
augmentation), in chunks on disk; --num-workers N extracts them with N Ray tasks.

OUT.json maps each layer name to its held-out top-1 as a fraction.
"""

from __future__ import annotations

import argparse
import json
import sys

from mmssl.eval.eval_cli import (add_evaluation_arguments, feature_stores, label_and_value, run_and_splits,
                                  write_json)
from mmssl.eval.linear_probe import ProbeSettings, probe_layer

PROG = "mmssl.recipes.linear_probe"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_evaluation_arguments(parser)
    parser.add_argument("--json", metavar="OUT.json", help="write {layer: held-out top-1} here")
    parser.add_argument("--plot", metavar="OUT.png", help="write the per-layer curve (and --compare curves) as a PNG")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=JSON",
                        help="another probe's JSON to draw on the same plot, e.g. 'jigsaw=jigsaw.json'")
    parser.add_argument("--layers", help="comma-separated image layers (default: conv1,res2,res3,res4,res5)")
    defaults = ProbeSettings()
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help=f"probe epochs (default {defaults.epochs})")
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"probe learning rate (default {defaults.lr})")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay,
                        help=f"probe weight decay (default {defaults.weight_decay})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = ProbeSettings(epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay)
        compared = {label: _read_curve(path)
                    for label, path in (label_and_value(item, "--compare", "PATH.json") for item in args.compare)}
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    loaded = run_and_splits(args)
    if loaded is None:
        return 2
    run, splits = loaded
    layers = tuple(args.layers.split(",")) if args.layers else None
    print(f"== {PROG}: {run.label} {run.spec.method} from {run.run_dir}")
    print(f"   {splits.describe()}")
    results = []
    with feature_stores(args, run, splits, layers) as (train, held_out):
        for layer in train.store.layers:
            results.append(probe_layer(layer, train, held_out, len(splits.class_names), settings))
            print(f"   {layer}: held-out top-1 {results[-1].held_out_top1:.3f}")
    chance = 1 / len(splits.class_names)
    print(_table(results, run.label, chance))
    curve = {result.layer: result.held_out_top1 for result in results}
    if args.json:
        write_json(args.json, curve)
    if args.plot:
        from mmssl.eval.plots import plot_layer_curves

        path = plot_layer_curves({f"{run.spec.method} ({run.label})": curve, **compared}, args.plot,
                                 "linear probe per layer", chance)
        print(f"wrote {path}")
    return 0


def _table(results, label: str, chance: float) -> str:
    lines = [f"linear probe ({label}; held-out top-1, chance {chance:.3f}):",
             f"  {'layer':<8} {'dims':>6} {'train':>7} {'held-out':>9}"]
    lines += [f"  {r.layer:<8} {r.dims:>6} {r.train_top1:>7.3f} {r.held_out_top1:>9.3f}" for r in results]
    return "\n".join(lines)


def _read_curve(path: str) -> dict[str, float]:
    values = json.loads(open(path).read())
    if not isinstance(values, dict) or not all(isinstance(v, (int, float)) for v in values.values()):
        raise ValueError(f"{path} is not a linear-probe JSON ({{layer: top-1}})")
    return values


if __name__ == "__main__":
    sys.exit(main())
