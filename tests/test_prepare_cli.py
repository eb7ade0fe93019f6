"""The command line: --help explains the options; a run, a refusal and bad arguments exit clearly."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmssl.data.prepare_cli import build_parser, config_from_args, main

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
