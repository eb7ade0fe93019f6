"""`mmssl-prepare` / `python tools/prepare_data.py`: raw media to shards + manifest, resumable."""

from __future__ import annotations

import argparse
import json
import sys

from mmssl.data import yfcc
from mmssl.data.prepare_journal import PrepareRefused
from mmssl.data.normalize_image import ImageConfig
from mmssl.data.normalize_video import VideoConfig
from mmssl.data.prepare import PrepareConfig, prepare
from mmssl.data.prepare_summary import format_summary
from mmssl.data.sources import DEFAULT_MAX_MEMBER_BYTES, FolderSource, StoreFolderSource, WebdatasetSource, YfccSource
from mmssl.data.store import StoreAccessError, is_uri

EPILOG = """\
output layout: DIR/shards/shard-NNNNNN.{tar,idx}, DIR/manifest.parquet (accepted samples),
DIR/rejected.parquet (refused inputs with stage and reason), DIR/summary.json.
Re-running with the same --output and the same input and settings resumes an interrupted run;
a different input, or an already complete directory, is refused unless --overwrite is given.

examples:
  prepare_data.py --input ~/media --output data/mine
  prepare_data.py --yfcc-metadata yfcc100m_dataset.bz2 --media-root /mnt/yfcc --output data/yfcc \\
      --yfcc-path-template 'data/images/{hash_a}/{hash_b}/{hash}.jpg' --address auto
  prepare_data.py --webdataset 'laion/{00000..00999}.tar' --output data/laion   (quote the pattern)
  prepare_data.py --webdataset 'laion/*.tar' --output data/laion
  prepare_data.py --webdataset 's3://bucket/laion/{00000..00999}.tar' --output s3://bucket/prepared/laion
  prepare_data.py --yfcc-metadata s3://bucket/yfcc100m_dataset.bz2 --media-root s3://bucket/yfcc --output data/yfcc
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Normalize images and videos into webdataset shards with a manifest, using Ray tasks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output", required=True, metavar="DIR", help="dataset directory to write (or resume), or a "
                        "store URI (s3://bucket/prefix: staged locally, pushed at every journaled shard)")
    inputs = parser.add_argument_group("input (exactly one)")
    inputs.add_argument("--input", metavar="DIR", help="folder tree of images and videos (any names/extensions), "
                        "or a store URI whose objects are the media (s3://bucket/media)")
    inputs.add_argument("--yfcc-metadata", metavar="FILE", help="YFCC100M metadata file (yfcc100m_dataset, tab-separated, .bz2/.gz ok): "
                        "23 fields, or 24/25 with a line number (and the AWS md5 hash) in front; "
                        "marker 0 = photo, 1 = video in the last field; malformed rows are rejected. A store URI is streamed")
    inputs.add_argument("--media-root", metavar="DIR", help="with --yfcc-metadata: where the downloaded files live (a folder, or a store "
                        "URI such as s3://bucket/yfcc: each file is read from the store)")
    inputs.add_argument("--yfcc-path-template", default=yfcc.DEFAULT_PATH_TEMPLATE, metavar="TEMPLATE",
                        help=yfcc.TEMPLATE_HELP.replace("%", "%%") + " Rows whose file is absent are rejected as 'file missing'.")
    inputs.add_argument("--webdataset", metavar="PATTERN", help="existing webdataset tars (img2dataset/video2dataset "
                        "output), named the webdataset way ('/wds/{00000..00999}.tar', lists '{a,b}') and/or by a glob "
                        "('/wds/*.tar'), on disk or on a store ('s3://bucket/wds/{00000..00999}.tar', each tar "
                        "streamed); quote it. A named shard that is absent is rejected as 'shard missing'; each "
                        "sample's .txt caption and .json metadata go to the manifest (caption, source_key, "
                        "source_width, source_height, source_json)")
    inputs.add_argument("--max-member-mb", type=float, default=DEFAULT_MAX_MEMBER_BYTES / (1 << 20),
                        help="with --webdataset: a sample with a member larger than this (by its tar header) is "
                        f"rejected without reading it (default {DEFAULT_MAX_MEMBER_BYTES >> 20})")
    run = parser.add_argument_group("execution")
    run.add_argument("--workers", type=int, default=None, metavar="N", help="CPUs for a local Ray, and tasks in flight = 2x this "
                     "(default: all CPUs of the machine or cluster)")
    run.add_argument("--address", default=None, help="Ray cluster address (e.g. 'auto' or 'ray://head:10001'); "
                     "default: start a local Ray with the dashboard off")
    run.add_argument("--local", action="store_true", help="no Ray: normalize input by input in one child process "
                     "(tiny inputs, debugging)")
    run.add_argument("--batch-size", type=int, default=16, help="inputs per Ray task (default 16)")
    run.add_argument("--shard-size-mb", type=float, default=256.0, help="target shard size in MB (default 256)")
    run.add_argument("--task-timeout-s", type=float, default=1800.0,
                     help="time limit of a Ray task (a batch) after its turn; a batch that overruns it is retried one "
                     "input per task, and an input that overruns it alone is rejected as timed out. With --local, "
                     "each input runs in a child process under this limit (default 1800)")
    run.add_argument("--overwrite", action="store_true", help="delete a previous preparation in DIR and start over")
    run.add_argument("--stop-after-shards", type=int, default=None, metavar="K",
                     help="stop after K finished shards (a partial run; re-run the same command to resume)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    image = parser.add_argument_group("image normalization (baseline 4:2:0 RGB JPEG, EXIF orientation applied)")
    image.add_argument("--image-max-side", type=int, default=500, help="bound on the long side in px (default 500)")
    image.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality 1-100 (default 90)")
    image.add_argument("--max-image-pixels", type=int, default=ImageConfig.max_pixels,
                       help="larger images are rejected as decompression bombs; JPEGs are first decoded "
                       f"downscaled (default {ImageConfig.max_pixels})")
    video = parser.add_argument_group("video normalization (H.264 yuv420p, constant frame rate, rotation applied)")
    video.add_argument("--video-short-side", type=int, default=256, help="bound on the short side in px (default 256)")
    video.add_argument("--fps", type=float, default=None, help="output frame rate (default: the source's, capped by --max-fps)")
    video.add_argument("--max-fps", type=float, default=30.0, help="cap on the kept source frame rate (default 30)")
    video.add_argument("--gop", type=int, default=16, help="keyframe every N frames (default 16)")
    video.add_argument("--crf", type=int, default=23, help="x264 constant rate factor, 0-51 (default 23)")
    video.add_argument("--max-duration-s", type=float, default=600.0, help="longer videos are cut here (default 600)")
    audio = parser.add_argument_group("audio (a separate mono FLAC member; videos without audio get has_audio=false)")
    audio.add_argument("--audio-sample-rate", type=int, default=16_000, help="sample rate in Hz (default 16000)")
    return parser


def source_from_args(args: argparse.Namespace):
    """The one input the arguments name; ValueError with the fix when there are none or several."""
    given = [flag for flag, value in (("--input", args.input), ("--yfcc-metadata", args.yfcc_metadata),
                                      ("--webdataset", args.webdataset)) if value]
    if len(given) != 1:
        raise ValueError(f"give exactly one of --input, --yfcc-metadata (with --media-root) or --webdataset; got {given or 'none'}")
    if args.input:
        return StoreFolderSource(args.input) if is_uri(args.input) else FolderSource(args.input)
    if args.webdataset:
        return WebdatasetSource(args.webdataset, int(args.max_member_mb * (1 << 20)))
    if not args.media_root:
        raise ValueError("--yfcc-metadata needs --media-root DIR (the folder holding the downloaded files)")
    return YfccSource(args.yfcc_metadata, args.media_root, args.yfcc_path_template)


def config_from_args(args: argparse.Namespace) -> PrepareConfig:
    return PrepareConfig(
        output_dir=args.output,
        shard_bytes=int(args.shard_size_mb * (1 << 20)),
        image=ImageConfig(max_side_px=args.image_max_side, jpeg_quality=args.jpeg_quality, max_pixels=args.max_image_pixels),
        video=VideoConfig(max_short_side_px=args.video_short_side, fps=args.fps, max_fps=args.max_fps,
                          gop_frames=args.gop, crf=args.crf, audio_sample_rate_hz=args.audio_sample_rate,
                          max_duration_s=args.max_duration_s),
        workers=args.workers,
        batch_size=args.batch_size,
        address=args.address,
        local=args.local,
        overwrite=args.overwrite,
        stop_after_shards=args.stop_after_shards,
        task_timeout_s=args.task_timeout_s,
        progress=not args.no_progress,
    )


def describe_source(spec: dict) -> str:
    """The source's spec for the terminal: a webdataset pattern's shards are counted, not listed (a
    `{00000..99999}` pattern names 100,000 of them)."""
    if spec["type"] != "webdataset":
        return json.dumps(spec)
    missing = f", {len(spec['missing'])} named but missing (each one rejection)" if spec["missing"] else ""
    return f"webdataset {spec['pattern']!r}: {len(spec['tars'])} tar files{missing}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        source = source_from_args(args)
        config = config_from_args(args)
    except ValueError as err:
        parser.error(str(err))
    print(f"input: {describe_source(source.spec())}\nconfig: {config}", flush=True)
    try:
        summary = prepare(source, config)
    except (PrepareRefused, StoreAccessError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not summary.get("complete"):
        print(f"stopped after {summary['shards_finished']} shards at input {summary['cursor']}; "
              "run the same command again to resume")
        return 0
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
