"""Per-step cost of the sharded memory bank (one PIRL step's lookup + update) as the bank grows.

Spawns `--ranks` CPU processes joined by gloo on 127.0.0.1, builds a bank of N rows for each N in
`--rows`, and times `lookup` (positives + shared negatives, one all-reduce) followed by `update`
(all-gather of the batch, routed to owners). The claim checked: the per-step time does not grow
with N, because traffic is (global batch + negatives) x d, whatever N is.

    python tools/bench_memory_bank.py                       # N = 1e5 and 1e7, 2 ranks
    python tools/bench_memory_bank.py --rows 100000 10000000 --bank-dtype float16
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from mmssl.memory.memory_bank import ShardedMemoryBank


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 10_000_000], help="bank sizes N to compare")
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
    banks = {n: ShardedMemoryBank(n, args.dim, storage_dtype=args.bank_dtype, rank=rank, world_size=args.ranks)
             for n in args.rows}
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
    if rank == 0:
        for num_rows, bank in banks.items():
            results[num_rows] = (statistics.median(step_s[num_rows][5:]), bank.rows.numel() * bank.rows.element_size())
    dist.destroy_process_group()


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as scratch, mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(bench_rank, args=(args, os.path.join(scratch, "store"), results), nprocs=args.ranks, join=True)
        results = dict(results)
    print(f"ranks={args.ranks} dim={args.dim} batch/rank={args.batch_per_rank} negatives={args.negatives} "
          f"dtype={args.bank_dtype} steps={args.steps}")
    print(f"{'rows N':>12} {'bank bytes/rank':>16} {'median step ms':>15}")
    for num_rows in args.rows:
        step_s, bank_bytes = results[num_rows]
        print(f"{num_rows:>12,} {bank_bytes:>16,} {step_s * 1e3:>15.2f}")
    element_bytes = 2 if args.bank_dtype == "float16" else 4
    global_batch = args.batch_per_rank * args.ranks
    lookup_bytes = (global_batch + args.negatives) * args.dim * element_bytes  # the all-reduced buffer
    update_bytes = global_batch * (args.dim * 4 + 8)  # all-gathered features (float32) and indices
    print(f"collective payload per step, any N: lookup {lookup_bytes:,} B + update {update_bytes:,} B")
    smallest, largest = min(args.rows), max(args.rows)
    ratio = results[largest][0] / results[smallest][0]
    verdict = "flat (within 20%)" if ratio <= 1.2 else "NOT flat"
    print(f"step time ratio N={largest:,} / N={smallest:,}: {ratio:.3f} -> {verdict}")


if __name__ == "__main__":
    main()
