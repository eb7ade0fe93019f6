"""Minimum and mean Hamming distance of the Jigsaw permutation sets, for each selection method.

    python tools/permutation_stats.py                       # K = 100 and 1000, 9 tiles, seed 0
    python tools/permutation_stats.py --counts 100 --seeds 0 1 2

Prints a Markdown table (the one in docs/paper_fidelity.md). Sets come from the same code the
pipelines use (mmssl.data.permutations.generate_permutations); K=1000 takes about 13 s per set on a
2-core machine.
"""

from __future__ import annotations

import argparse

from mmssl.data.permutations import (
    SELECTION_METHODS,
    generate_permutations,
    mean_hamming_distance,
    min_hamming_distance,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000], help="set sizes K (default 100 1000)")
    parser.add_argument("--tiles", type=int, default=9, help="tiles per image (default 9)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="generation seeds (default 0)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    print("| K | method | seed | min distance | mean distance |")
    print("| --- | --- | --- | --- | --- |")
    for count in args.counts:
        for method in SELECTION_METHODS:
            for seed in args.seeds:
                perms = generate_permutations(count, args.tiles, seed, method)
                print(f"| {count} | {method} | {seed} | {min_hamming_distance(perms)} | "
                      f"{mean_hamming_distance(perms):.3f} |", flush=True)


if __name__ == "__main__":
    main()
