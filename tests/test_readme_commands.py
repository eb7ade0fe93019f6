"""Every command README.md shows runs, read from the README itself so that none can rot unnoticed.

A command runs as written where that takes seconds: preparation runs on small generated data (its
absolute paths moved under a temporary folder, `--local` added so no Ray starts). One that needs a
cluster, a GPU or hours runs as far as it can without them: a training recipe with
`--print-config` (it parses every flag and `--set` key, then stops), pytest with `--collect-only`,
pip with `--dry-run`, anything else with `--help`, where every flag the command names must be one
the help lists. A command naming a script, module, flag or config key that does not exist fails.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures_ingest import encode_image, quadrant_pixels
from mmssl.data.shard_pattern import shard_names

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300


def readme_commands(text: str) -> list[str]:
    """The lines of the ```bash blocks (continuations joined, comments cut, `&&` chains split) and the
    inline `python ...` / `pip ...` spans of the prose, in order of appearance."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            commands += [shlex.join(part) for part in _split_on(words, "&&") if part]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    commands += [span for span in re.findall(r"`([^`\n]+)`", prose) if re.match(r"(\w+=\S+ )*(python|pip) ", span)]
    return commands


def _split_on(words: list[str], separator: str) -> list[list[str]]:
    parts = [[]]
    for word in words:
        if word == separator:
            parts.append([])
        else:
            parts[-1].append(word)
    return parts


def _environment_and_words(command: str) -> tuple[dict[str, str], list[str]]:
    """(`NAME=value` prefixes, the command's words with `python` / `pip` as this interpreter's)."""
    words = shlex.split(command)
    env = {}
    while "=" in words[0] and not words[0].startswith("-"):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[0] == "pip":
        words = ["python", "-m", "pip"] + words[1:]
    assert words[0] == "python", f"README command {command!r}: expected python or pip"
    return env, [sys.executable] + words[1:]


def _run(words: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(words, cwd=REPO, env=os.environ | (env or {}), capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def _flags(words: list[str]) -> list[str]:
    return [word.split("=")[0] for word in words if word.startswith("--")]


def check_with_help(command: str) -> None:
    """The program's `--help` succeeds and lists every flag the command names. (The command's own
    arguments are left out: argparse would check a placeholder value such as `--pipeline P` before
    reaching `--help`, and would not refuse an unknown flag written before it.)"""
    env, words = _environment_and_words(command)
    program = words[:3] if words[1] == "-m" else words[:2]
    result = _run(program + ["--help"], env)
    assert result.returncode == 0, f"{command!r} --help failed:\n{result.stderr[-2000:]}"
    listed = set(re.findall(r"(?<![\w-])--[\w-]+", result.stdout))
    unknown = [flag for flag in _flags(words) if flag not in listed]
    assert not unknown, f"README command {command!r} names flags its --help does not list: {unknown}"


def check_print_config(command: str) -> None:
    """A training recipe parses its flags and --set keys, prints the config and stops."""
    env, words = _environment_and_words(command)
    result = _run(words + ["--print-config"], env)
    assert result.returncode == 0, f"{command!r} --print-config failed:\n{result.stderr[-2000:]}"
    for override in (words[i + 1] for i, word in enumerate(words) if word == "--set"):
        key, _, value = override.partition("=")
        section, _, name = key.rpartition(".")
        assert re.search(rf"^{section}:\n(?:  .*\n)*?  {name}: '?{re.escape(value)}'?$", result.stdout, re.M), \
            f"{command!r}: --set {override} is not in the printed config"


def check_pytest(command: str) -> None:
    """The suite (or file) the command names collects without errors."""
    env, words = _environment_and_words(command)
    result = _run(words + ["--collect-only"], env)
    collected = re.search(r"(\d+) tests? collected", result.stdout)
    assert result.returncode == 0 and collected and int(collected.group(1)) > 0, result.stdout[-2000:]


def check_pip(command: str) -> None:
    """pip resolves and builds the project's metadata (no download, nothing installed)."""
    env, words = _environment_and_words(command)
    install = words.index("install")
    result = _run(words[: install + 1] + ["--dry-run", "--no-deps", "--no-build-isolation"] + words[install + 1 :], env)
    assert result.returncode == 0 and "Would install mmssl" in result.stdout, result.stderr[-2000:]


def check_prepare(command: str, tmp_path: Path, shards: Path) -> None:
    """Preparation as written, on two generated photos (`--input`) or the generated img2dataset /
    video2dataset shards (`--webdataset`), every absolute path moved under `tmp_path`."""
    env, words = _environment_and_words(command)
    words = words[:1] + [str(tmp_path) + word if word.startswith("/") else word for word in words[1:]]
    if "--input" in words:
        folder = Path(words[words.index("--input") + 1])
        folder.mkdir(parents=True)
        for name in ("a.jpg", "b/c.png"):
            (folder / name).parent.mkdir(exist_ok=True)
            (folder / name).write_bytes(encode_image(quadrant_pixels(), "PNG" if name.endswith("png") else "JPEG"))
        expected = {"accepted": 2, "rejected_by_reason": {}}
    else:
        pattern = words[words.index("--webdataset") + 1]
        Path(pattern).parent.mkdir(parents=True)
        for tar in shards.glob("*.tar"):
            shutil.copy(tar, Path(pattern).parent / tar.name)
        missing = len(shard_names(pattern)) - 3
        expected = {"accepted": 5, "rejected_by_reason": {"shard missing": missing} if missing else {}}
    result = _run(words + ["--local", "--no-progress"], env)
    assert result.returncode == 0, f"{command!r} failed:\n{result.stderr[-2000:]}"
    summary = json.loads((Path(words[words.index("--output") + 1]) / "summary.json").read_text())
    assert {key: summary[key] for key in expected} == expected


def how_to_check(command: str):
    """The check a README command gets (see the module docstring)."""
    words = shlex.split(command)
    if "pip" in words[:3] and "install" in words:
        return check_pip
    if "pytest" in words:
        return check_pytest
    needs_a_cluster = "--address" in words
    if "tools/prepare_data.py" in words and not needs_a_cluster and {"--input", "--webdataset"} & set(words):
        return check_prepare
    evaluates_a_run = "--checkpoint" in words
    if any(word.startswith("mmssl.recipes.") for word in words) and not evaluates_a_run and "--help" not in words:
        return check_print_config
    return check_with_help


README_COMMANDS = readme_commands((REPO / "README.md").read_text())


@pytest.mark.parametrize("command", README_COMMANDS, ids=[c[:60] for c in README_COMMANDS])
def test_readme_command_runs(command, tmp_path, downloader_shards):
    check = how_to_check(command)
    if check is check_prepare:
        check(command, tmp_path, downloader_shards)
    else:
        check(command)


def test_the_readme_shows_the_commands_this_test_is_about():
    assert "python tools/prepare_data.py --webdataset '/wds/{00000..00999}.tar' --output /data/wds" in README_COMMANDS
    assert "python -m pytest -q" in README_COMMANDS and "python tools/bench_prepare.py" in README_COMMANDS


def test_extraction_joins_continuations_cuts_comments_and_splits_chains():
    text = ("intro `python tools/x.py --a 1` and `--set k=v` and `FOO=1 python -m m`\n"
            "```bash\npip install -e . && python -m m.n   # a comment\npython t.py --b \\\n    --c 'q {1..2}'\n```\n"
            "```\npython not_bash.py\n```\n")
    assert readme_commands(text) == ["pip install -e .", "python -m m.n", "python t.py --b --c 'q {1..2}'",
                                     "python tools/x.py --a 1", "FOO=1 python -m m"]


def test_a_flag_or_module_that_does_not_exist_fails_the_check():
    with pytest.raises(AssertionError, match=r"names flags its --help does not list: \['--no-such-flag'\]"):
        check_with_help("python tools/prepare_data.py --input /photos --no-such-flag 3 --output /data/x")
    with pytest.raises(AssertionError, match="--help failed"):
        check_with_help("python -m mmssl.recipes.no_such_recipe --data /x")
