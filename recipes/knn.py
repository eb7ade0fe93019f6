"""Weighted kNN classification on frozen features (NPID / DINO protocol), on a held-out split.

    python -m mmssl.recipes.knn --checkpoint RUN_DIR --data LABELLED_DIR --json knn.json
    python -m mmssl.recipes.knn --checkpoint RUN_DIR --data TRAIN_DIR --held-out-data VAL_DIR --k 20

Each held-out sample votes among its k most cosine-similar training samples, each vote weighted by
exp(similarity / temperature). Features: the network's globally pooled output (images: centre crop;
videos: the middle clip; --modality audio: the audio network). Prints top-1 for the run's trained
network and, with --compare-random-init, for the same network at initialisation.

Defaults k = 20 and T = 0.07 are DINO's (eval_knn.py). NPID's own code (lemniscate.pytorch) votes
with k = 200 at T = 0.07: use --k 200 to compare with its figures (docs/paper_fidelity.md).
"""

from __future__ import annotations

import argparse
import sys

from mmssl.eval.eval_cli import add_evaluation_arguments, feature_stores, run_and_splits, write_json
from mmssl.eval.evaluated_run import EvaluatedRun
from mmssl.eval.knn import knn_accuracy
from mmssl.eval.layer_features import POOLED

PROG = "mmssl.recipes.knn"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_evaluation_arguments(parser)
    parser.add_argument("--k", type=int, default=20, help="neighbours voting (default 20)")
    parser.add_argument("--temperature", type=float, default=0.07, help="vote weight exp(sim / T) (default 0.07)")
    parser.add_argument("--compare-random-init", action="store_true", help="also score the network as initialised")
    parser.add_argument("--json", metavar="OUT.json", help="write {network: held-out top-1} here")
    return parser


def held_out_knn(args, run: EvaluatedRun, splits) -> float:
    """Top-1 of the held-out split's kNN vote among the training split, with `run`'s features."""
    with feature_stores(args, run, splits, (POOLED,)) as (train, held_out):
        reference, reference_index = train.store.whole(POOLED)
        queries, query_index = held_out.store.whole(POOLED)
    use, ask = train.selected[reference_index], held_out.selected[query_index]
    return knn_accuracy(reference[use], train.labels[reference_index][use], queries[ask],
                        held_out.labels[query_index][ask], args.k, args.temperature)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.k < 1 or args.temperature <= 0:
        print(f"error: need --k >= 1 and --temperature > 0, got {args.k}, {args.temperature}", file=sys.stderr)
        return 2
    loaded = run_and_splits(args)
    if loaded is None:
        return 2
    run, splits = loaded
    runs = [run] + ([EvaluatedRun(run.run_dir, random_init=True)] if args.compare_random_init and not run.random_init else [])
    results = {each.label: held_out_knn(args, each, splits) for each in runs}
    print(f"kNN (k={args.k}, T={args.temperature}, {splits.describe()}; chance {1 / len(splits.class_names):.3f}):")
    for label, accuracy in results.items():
        print(f"  {run.spec.method} {label}: held-out top-1 {accuracy:.3f}")
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
