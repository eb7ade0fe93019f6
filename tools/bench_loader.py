"""Profile an input pipeline before spending cluster hours: DALI (GPU, CPU) against the baseline a user
would otherwise run (torchvision / decord / torchaudio in a PyTorch DataLoader), in one run, with the
same data and CPU threads; a stage breakdown (read, decode, augment) with the decode-only ceiling;
sweeps; and the training side (steps/s of a recipe's model, synthetic vs fed by the loader).

    python tools/bench_loader.py --pipeline pirl --backend dali-cpu,torch --batches 20 --threads 2
    python tools/bench_loader.py --pipeline clips --backend dali-cpu,torch --batch-size 8 --gop 16,250
    python tools/bench_loader.py --pipeline frame_order --threads 1,2 --train-recipe shuffle_learn --json out.json
    python tools/bench_loader.py --pipeline pirl --data s3://bucket/prefix --local-copy /data/prefix
    python tools/bench_loader.py --pipeline pirl --local-s3 --added-latency-ms 20 --requests-in-flight 1,32

Without --data a temporary demo dataset is generated (photo-like images, or panning videos with sound
prepared as preparation prepares them). With --data s3://... (or --local-s3: a SeaweedFS server
started here, holding the demo data or --data) the loader on the store is timed beside the same data
on local disk instead (mmssl/bench/store_bench.py). The logic lives in mmssl.bench; this is its
command line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from mmssl.bench.backends import REQUESTABLE
from mmssl.bench.profile import DEFAULT_GOP, PIPELINES, BenchConfig, run_profile
from mmssl.bench.report import plot, render, write_json
from mmssl.data.shard_reader import StoreOptions
from mmssl.data.store import is_uri


def numbers(kind: type):
    """argparse type: a comma-separated list, e.g. `1,2,4`."""
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a prepared dataset (tools/prepare_data.py output); default: demo data")
    parser.add_argument("--pipeline", choices=PIPELINES, help="default: the --train-recipe's, else pirl")
    parser.add_argument("--backend", default=",".join(REQUESTABLE), help=f"comma-separated, of {','.join(REQUESTABLE)}")
    parser.add_argument("--threads", type=numbers(int), default=(2,),
                        help="DALI threads = DataLoader workers; a sweep: 1,2,4")
    parser.add_argument("--batch-size", type=numbers(int), default=(32,), help="a sweep: 8,32")
    parser.add_argument("--gop", type=numbers(int), default=(DEFAULT_GOP,),
                        help="keyframe interval of the generated videos; two values compare them (e.g. 16,250)")
    parser.add_argument("--hw-decoder-load", type=numbers(float), default=(),
                        help="nvJPEG hardware-decoder share(s) for the GPU decode-only row, e.g. 0,0.65,1")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per backend and round")
    parser.add_argument("--seconds", type=float, help="time budget per backend and round instead of --batches")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches first (worker start-up)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repeats; figures are medians with spread")
    parser.add_argument("--no-stages", dest="stages", action="store_false", help="skip the read / decode-only rows")
    parser.add_argument("--images", type=int, default=400, help="size of the generated image dataset")
    parser.add_argument("--videos", type=int, default=24, help="distinct videos in the generated video dataset")
    parser.add_argument("--source-workers", type=int, help="DALI sample-source processes (default: build_loader's)")
    parser.add_argument("--options", type=json.loads, help='pipeline options as JSON, e.g. \'{"crop_px": 64}\'')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-recipe", help="also time this recipe's model: synthetic tensors vs fed by the loader")
    parser.add_argument("--train-config", choices=("embedded", "full"), default="embedded", help="which recipe config")
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--train-batch-size", type=int, help="replaces the recipe's batch size")
    parser.add_argument("--json", help="write every figure and the machine here")
    parser.add_argument("--plot", help="write a PNG chart here")
    store = parser.add_argument_group("object storage (--data s3://... or --local-s3)")
    store.add_argument("--local-s3", action="store_true",
                       help="start a SeaweedFS S3 server on 127.0.0.1, put the data there (--data DIR or demo images)")
    store.add_argument("--local-copy", help="the --data URI's dataset on local disk (default: copied from the store)")
    store.add_argument("--added-latency-ms", type=numbers(float), default=(),
                       help="also read the store through a proxy delaying each request this long (a store on 127.x)")
    store.add_argument("--requests-in-flight", type=numbers(int), default=(StoreOptions().requests_in_flight,),
                       help="range requests the loader keeps in flight (train.store_requests_in_flight); a sweep: 1,32")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty(),
                        help="progress bar on stderr (default: when it is a terminal)")
    return parser


def config_from_args(args: argparse.Namespace, argv: list[str]) -> BenchConfig:
    pipeline = args.pipeline
    if args.train_recipe:  # an unknown recipe is refused now, not after the loader runs
        from mmssl.bench.training import recipe_config

        recipe_pipeline = recipe_config(args.train_recipe, args.train_config)[1].pipeline
        pipeline = pipeline or recipe_pipeline
    return BenchConfig(
        pipeline=pipeline or "pirl", backends=tuple(b.strip() for b in args.backend.split(",") if b.strip()),
        threads=args.threads, batch_sizes=args.batch_size, gops=args.gop, hw_decoder_loads=args.hw_decoder_load,
        warmup=args.warmup, batches=args.batches, seconds=args.seconds, rounds=args.rounds, stages=args.stages,
        data=args.data, images=args.images, videos=args.videos, source_workers=args.source_workers,
        options=args.options, seed=args.seed, train_recipe=args.train_recipe, train_config=args.train_config,
        train_steps=args.train_steps, train_batch_size=args.train_batch_size, progress=args.progress,
        command=shlex.join(["python", "tools/bench_loader.py", *argv]))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.local_s3 or (args.data and is_uri(args.data)):
        return store_comparison(args)
    try:
        config = config_from_args(args, argv)
    except ValueError as error:
        parser.error(str(error))
    print(f"bench_loader: {config}", flush=True)
    try:
        report = run_profile(config)
    except FileNotFoundError as error:
        print(f"bench_loader: error: {error}", file=sys.stderr)
        return 2
    print(render(report))
    if args.json:
        write_json(report, args.json)
    if args.plot:
        plot(report, args.plot)
    return 0


def store_comparison(args: argparse.Namespace) -> int:
    """The loader on the store beside local disk: one table (and --json)."""
    import os
    import tempfile
    from pathlib import Path

    from mmssl.bench.store_bench import StoreBenchConfig, render_store_rows, run_store_bench

    with tempfile.TemporaryDirectory(prefix="mmssl-bench-s3-") as scratch:
        server = None
        uri, local_copy = args.data, args.local_copy
        if args.local_s3:
            from mmssl.bench import demo_data
            from mmssl.bench.local_s3 import start_local_s3

            local_copy = args.data or str(demo_data.generate_image_dataset(Path(scratch) / "data", args.images, args.seed))
            server = start_local_s3(Path(scratch) / "seaweedfs")
            server.upload(local_copy, "mmssl-bench/data")
            os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = server.access_key, server.secret_key
            uri = server.uri("mmssl-bench/data")
        config = StoreBenchConfig(uri, local_copy, pipeline=args.pipeline or "pirl", batch_size=args.batch_size[0],
                                  threads=args.threads[0], warmup=args.warmup, batches=args.batches, rounds=args.rounds,
                                  added_latency_ms=args.added_latency_ms, requests_in_flight=args.requests_in_flight,
                                  options=args.options, seed=args.seed)
        print(f"bench_loader: {config}", flush=True)
        try:
            rows = run_store_bench(config)
        finally:
            if server is not None:
                server.stop()
    print(render_store_rows(config, rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"config": config.__dict__, "rows": [row.__dict__ for row in rows]},
                                              indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
