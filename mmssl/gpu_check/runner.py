"""Each part of the check in its own process, with its own time limit; a failure costs only that part.

A part is forked from the check (which has imported torch and DALI but touched no GPU, so the child
starts without paying for the imports again) into a new session, so that on its deadline the part
and everything it started (DataLoader workers, DALI's source processes, decoders, pytest) are killed
together. The part writes what it has measured so far through a `Recorder`, so a part killed at its
deadline still keeps the figures it had. Its stdout and stderr go to `logs/<part>.log`, and just before
its deadline the stacks of all its threads too, so a hang says where it hung.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

POLL_S = 0.05
DUMP_BEFORE_LIMIT_S = 1.0  # every thread's stack goes to the log this long before a part is killed
LOG_TAIL_LINES = 20


class Recorder:
    """What a part has measured so far, rewritten as one JSON file after every `record`."""

    def __init__(self, path: Path):
        self.path, self.values = Path(path), {}

    def record(self, **values) -> None:
        self.values.update(values)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.values, indent=1, default=str))
        temporary.replace(self.path)


@dataclass
class PartOutcome:
    name: str
    status: str  # "ok", "failed" or "timed out"
    wall_s: float
    limit_s: float
    result: dict = field(default_factory=dict)  # what it recorded (also when it failed or timed out)
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def run_part(name: str, target: Callable[[Recorder], None], limit_s: float, folder: Path) -> PartOutcome:
    """Run `target(recorder)` in a child process for at most `limit_s` seconds."""
    folder = Path(folder)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    result_path, log_path = folder / "logs" / f"{name}.json", folder / "logs" / f"{name}.log"
    result_path.unlink(missing_ok=True)
    sys.stdout.flush(), sys.stderr.flush()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child never returns
        _child(target, Recorder(result_path), log_path, limit_s)
    status = _wait(pid, started + limit_s)
    _kill_session(pid)  # whatever the part left running (or all of it, past the deadline)
    wall_s = time.monotonic() - started
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    error = result.pop("error", None)
    if status == "timed out":
        error = (f"killed after {limit_s:.0f} s (its share of --budget-s); figures recorded before that are kept; "
                 f"its threads' stacks at the deadline are in {log_path}")
    elif status != "ok" and error is None:
        error = f"the part's process ended with {status}; last lines of {log_path}:\n{_tail(log_path)}"
    return PartOutcome(name, "ok" if status == "ok" else ("timed out" if status == "timed out" else "failed"),
                       wall_s, limit_s, result, error)


def _child(target: Callable[[Recorder], None], recorder: Recorder, log_path: Path, limit_s: float) -> None:
    os.setsid()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1), os.dup2(log, 2)
    faulthandler.dump_traceback_later(max(0.5, limit_s - DUMP_BEFORE_LIMIT_S))  # where it hung, in the log
    code = 0
    try:
        target(recorder)
    except BaseException:  # noqa: BLE001 - any failure is the part's result, with its traceback
        traceback.print_exc()
        recorder.record(error=traceback.format_exc(limit=-8))
        code = 1
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, deadline: float) -> str:
    """"ok", "exit code N", "signal N" or "timed out"."""
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFEXITED(status):
                return "ok" if os.WEXITSTATUS(status) == 0 else f"exit code {os.WEXITSTATUS(status)}"
            return f"signal {os.WTERMSIG(status)}"
        time.sleep(POLL_S)
    _kill_session(pid)
    os.waitpid(pid, 0)
    return "timed out"


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(lines[-LOG_TAIL_LINES:])
