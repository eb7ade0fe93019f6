"""Per-step cost and host memory of the sharded memory bank (one PIRL step's lookup + update) as it grows.

Spawns `--ranks` CPU processes joined by gloo on 127.0.0.1, builds a bank of N rows for each N in
`--rows`, and times `lookup` (positives + shared negatives, one all-reduce) followed by `update`
(all-gather of the batch, routed to owners). The claims checked: the per-step time does not grow
with N, because traffic is (global batch + negatives) x d, whatever N is; and building a bank raises
a rank's peak resident memory by its shard and one float32 block of initial rows, not more.

Sizes may be written 5e7. Every rank holds all its banks at once; sizes whose shards do not fit in
the machine's available memory are refused before anything is built.

    python tools/bench_memory_bank.py                       # N = 1e5 and 1e7, 2 ranks
    python tools/bench_memory_bank.py --rows 1e5 5e7 --bank-dtype float16
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from mmssl.bench.resident_memory import available_bytes, peak_resident_bytes, reset_peak_resident, resident_bytes
from mmssl.memory.bank_layout import INIT_BLOCK_ROWS
from mmssl.memory.memory_bank import ShardedMemoryBank

ELEMENT_BYTES = {"float32": 4, "float16": 2}
RANK_OVERHEAD_BYTES = 1 << 30  # torch, gloo and the step's buffers in each rank, beside its banks


def bank_size(text: str) -> int:
    """A row count written 100000 or 1e5."""
    value = float(text)
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"bank size {text!r} is not a positive whole number of rows")
    return int(value)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=bank_size, nargs="+", default=[100_000, 10_000_000],
                        help="bank sizes N to compare (100000 or 1e5)")
    parser.add_argument("--ranks", type=int, default=2, help="gloo processes")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch-per-rank", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=32000)
    parser.add_argument("--bank-dtype", default="float32", choices=["float32", "float16"])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per size (after 5 warm-up steps)")
    return parser.parse_args()


def bench_rank(rank: int, args: argparse.Namespace, store_path: str, results: dict) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", store=dist.FileStore(store_path, args.ranks), rank=rank, world_size=args.ranks)
    generator = torch.Generator().manual_seed(rank)
    banks, build_growth, peak = {}, {}, peak_resident_bytes()
    for num_rows in sorted(args.rows):
        reset_peak_resident()  # the build's own peak, not an earlier one
        before = resident_bytes()
        banks[num_rows] = ShardedMemoryBank(num_rows, args.dim, storage_dtype=args.bank_dtype, rank=rank,
                                            world_size=args.ranks)
        build_growth[num_rows] = peak_resident_bytes() - before
        peak = max(peak, peak_resident_bytes())
    step_s = {n: [] for n in args.rows}
    # sizes take turns step by step, so load from other processes on the machine hits all alike
    for step in range(5 + args.steps):
        for num_rows, bank in banks.items():
            indices = torch.randint(0, num_rows, (args.batch_per_rank,), generator=generator)
            features = F.normalize(torch.randn(args.batch_per_rank, args.dim, generator=generator), dim=1)
            dist.barrier()
            start = time.perf_counter()
            bank.lookup(indices, args.negatives)
            bank.update(indices, features)
            step_s[num_rows].append(time.perf_counter() - start)
    results[rank] = {"peak": max(peak, peak_resident_bytes()), "build_growth": build_growth,
                     "shard_bytes": {n: bank.rows.numel() * bank.rows.element_size() for n, bank in banks.items()},
                     "step_s": {n: statistics.median(times[5:]) for n, times in step_s.items()}}
    dist.destroy_process_group()


def refuse_what_does_not_fit(args: argparse.Namespace) -> None:
    """Stop before building if the ranks' banks cannot fit: an out-of-memory kill says nothing useful."""
    shard_bytes = sum(math.ceil(n / args.ranks) * args.dim * ELEMENT_BYTES[args.bank_dtype] for n in args.rows)
    block_bytes = INIT_BLOCK_ROWS * args.dim * 4
    needed = args.ranks * (shard_bytes + block_bytes + RANK_OVERHEAD_BYTES)
    available = available_bytes()
    if needed > available:
        sizes = " ".join(map(str, args.rows))
        raise SystemExit(f"--rows {sizes} at {args.bank_dtype} needs about {needed / 1e9:.1f} GB over {args.ranks} "
                         f"ranks, the machine has {available / 1e9:.1f} GB available: pass smaller --rows or "
                         "--bank-dtype float16, or free memory")


def main() -> None:
    args = parse_args()
    refuse_what_does_not_fit(args)
    with tempfile.TemporaryDirectory() as scratch, mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(bench_rank, args=(args, os.path.join(scratch, "store"), results), nprocs=args.ranks, join=True)
        results = dict(results)
    print(f"ranks={args.ranks} dim={args.dim} batch/rank={args.batch_per_rank} negatives={args.negatives} "
          f"dtype={args.bank_dtype} steps={args.steps}")
    step_s = {n: results[0]["step_s"][n] for n in args.rows}  # rank 0's clock, as before
    print(f"{'rows N':>12} {'bank bytes/rank':>16} {'build peak +bytes/rank':>23} {'median step ms':>15}")
    for num_rows in args.rows:
        shard_bytes = max(result["shard_bytes"][num_rows] for result in results.values())
        growth = max(result["build_growth"][num_rows] for result in results.values())
        print(f"{num_rows:>12,} {shard_bytes:>16,} {growth:>23,} {step_s[num_rows] * 1e3:>15.2f}")
    for rank in range(args.ranks):
        result = results[rank]
        print(f"rank {rank}: peak resident {result['peak']:,} B, its banks {sum(result['shard_bytes'].values()):,} B")
    global_batch = args.batch_per_rank * args.ranks
    lookup_bytes = (global_batch + args.negatives) * args.dim * ELEMENT_BYTES[args.bank_dtype]  # the all-reduced buffer
    update_bytes = global_batch * (args.dim * 4 + 8)  # all-gathered features (float32) and indices
    print(f"collective payload per step, any N: lookup {lookup_bytes:,} B + update {update_bytes:,} B")
    smallest, largest = min(args.rows), max(args.rows)
    ratio = step_s[largest] / step_s[smallest]
    verdict = "flat (within 20%)" if ratio <= 1.2 else "NOT flat"
    print(f"step time ratio N={largest:,} / N={smallest:,}: {ratio:.3f} -> {verdict}")


if __name__ == "__main__":
    main()
