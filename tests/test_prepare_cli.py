"""The command line: --help explains the options; a run, a refusal and bad arguments exit clearly."""

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mmssl.data.manifest import read_manifest, read_rejected
from mmssl.data.prepare_cli import build_parser, config_from_args, main
from mmssl.data.shards import list_shards, sample_key

REPO = Path(__file__).resolve().parents[1]


def test_help_from_the_tool_script():
    result = subprocess.run([sys.executable, str(REPO / "tools" / "prepare_data.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--input", "--yfcc-metadata", "--media-root", "--yfcc-path-template", "--webdataset",
                   "--workers", "--address", "--shard-size-mb", "--image-max-side", "--video-short-side",
                   "--gop", "--audio-sample-rate", "--overwrite", "file missing"):
        assert option in result.stdout, option


def test_arguments_become_validated_configs():
    args = build_parser().parse_args(["--output", "o", "--input", "i", "--shard-size-mb", "64", "--gop", "8",
                                      "--audio-sample-rate", "22050", "--image-max-side", "320", "--workers", "3"])
    config = config_from_args(args)
    assert config.shard_bytes == 64 << 20 and config.workers == 3
    assert (config.video.gop_frames, config.video.audio_sample_rate_hz, config.image.max_side_px) == (8, 22050, 320)
    with pytest.raises(ValueError, match="gop_frames"):
        config_from_args(build_parser().parse_args(["--output", "o", "--input", "i", "--gop", "0"]))


@pytest.mark.parametrize("argv, message", [
    (["--output", "o"], "give exactly one of"),
    (["--output", "o", "--input", "a", "--webdataset", "b"], "give exactly one of"),
    (["--output", "o", "--yfcc-metadata", "m"], "needs --media-root"),
])
def test_bad_arguments_exit_with_usage(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_run_then_refuse_rerun(mixed_media_dir, tmp_path, capsys):
    root, expected = mixed_media_dir
    argv = ["--input", str(root), "--output", str(tmp_path), "--local", "--no-progress", "--shard-size-mb", "0.02"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"inputs {len(expected)}: accepted 8, rejected 4" in out
    assert json.loads((tmp_path / "summary.json").read_text())["inputs"] == len(expected)
    assert main(argv) == 2
    assert "already a complete dataset" in capsys.readouterr().err


def test_webdataset_brace_pattern_keeps_captions_and_metadata(downloader_shards, tmp_path, capsys):
    pattern = f"{downloader_shards}/{{00000..00003}}.tar"  # 00003 is absent: one "shard missing" rejection
    assert main(["--webdataset", pattern, "--output", str(tmp_path), "--local", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "inputs 6: accepted 5, rejected 1" in out
    assert f"input: webdataset {pattern!r}: 3 tar files, 1 named but missing (each one rejection)" in out
    manifest = read_manifest(tmp_path).to_pylist()
    assert [(row["modality"], row["source_key"]) for row in manifest] == [
        ("image", "000000000"), ("image", "000000001"), ("image", "000010000"), ("image", "000010001"),
        ("video", "000020000")]
    photo, video = manifest[1], manifest[4]
    assert (photo["caption"], photo["source_width"], photo["source_height"]) == ("photo 0-1, ünïcode", 64, 48)
    assert json.loads(photo["source_json"])["url"] == photo["source"] == "https://img.example.com/000000001.jpg"
    assert (video["caption"], video["source_width"], video["has_audio"]) == ("a bouncing bar", None, True)
    (tar_path, _), = list_shards(tmp_path / "shards")
    with tarfile.open(tar_path) as tar:  # the shard's own json carries them too
        stored = json.loads(tar.extractfile(f"{sample_key(1)}.json").read())
    assert stored["caption"] == "photo 0-1, ünïcode" and stored["source_key"] == "000000001"
    (rejected,) = read_rejected(tmp_path).to_pylist()
    assert rejected["source"] == str(downloader_shards / "00003.tar") and rejected["reason"].startswith("shard missing")
