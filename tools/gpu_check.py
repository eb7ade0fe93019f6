"""All the GPU work in one command, sized for a 15-minute loan of one H100 (7.5 minutes by default):
the machine's facts, the gpu-marked tests, bench_loader's rows for seven pipelines and NVDEC
scaling, one-GPU pirl_yfcc and av_correspondence runs at paper scale, step time with and without
each step setting, and NCCL (DDP and the sharded bank). Writes OUT/gpu_check.json and
OUT/gpu_check.md, prints a table.

    python tools/gpu_check.py --out $OUT                        # on the GPU machine (docs/gpu.md)
    python tools/gpu_check.py --out /tmp/gpu-check --dry-run    # any CPU machine: tiny sizes, not GPU figures
    python tools/gpu_check.py --out $OUT --budget-s 300 --parts training,step_hygiene

Each part runs in its own process under its share of --budget-s; one that fails or runs out of time
is recorded with its error and the others still run. The logic lives in mmssl.gpu_check.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mmssl.gpu_check.sizes import PARTS, sizes_for

REPO = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for gpu_check.json, gpu_check.md and the parts' logs")
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU-only machine: dali-cpu, gloo, 2 threads, tiny sizes; the figures are not GPU figures")
    parser.add_argument("--budget-s", type=float,
                        help="seconds for the whole check; each part gets its share as its limit and steps scale "
                             "with it (default: 450 on a GPU, 240 for a dry run)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, of {','.join(PARTS)} (facts, and data where needed, always run)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sizes = sizes_for(args.dry_run, args.budget_s)
        from mmssl.gpu_check.check import run_check, with_dependencies

        parts = with_dependencies(tuple(p.strip() for p in args.parts.split(",") if p.strip()))
    except ValueError as error:
        parser.error(str(error))
    import mmssl.objectives  # noqa: F401  imported once here (torch, DALI, the models), not in every part
    import mmssl.pipelines.loader  # noqa: F401

    from mmssl.gpu_check.report import console_table, write

    report = run_check(Path(args.out), sizes, parts, REPO, shlex.join(["python", "tools/gpu_check.py", *argv]))
    json_path, markdown_path = write(report, Path(args.out))
    print(console_table(report))
    print(f"gpu_check: wrote {json_path} and {markdown_path}")
    return 0 if all(part["status"] in ("ok", "skipped") for part in report["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
