"""`--local` preparation's guard: each input is normalized in a child process, under a time limit.

Without Ray, a decode that hangs (or a read from a stuck file) would hang the whole run, and a decoder
crash would end it. One long-lived child does the work, input by input; a child that overruns the
limit is killed and replaced and only that input is refused, as a Ray task's input would be. The child
comes from a fork server that has imported the normalizers once, so a replacement starts in
milliseconds and inherits none of the driver's threads.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection

from mmssl.data.normalize_image import ImageConfig
from mmssl.data.normalize_video import VideoConfig
from mmssl.data.prepare_worker import Outcome, process_item, timed_out
from mmssl.data.sources import InputItem

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["mmssl.data.prepare_worker"])


class GuardedItems:
    """`outcome(item)`: `process_item` in a child process, refused once it runs `time_limit_s`."""

    def __init__(self, image_config: ImageConfig, video_config: VideoConfig, time_limit_s: float):
        if time_limit_s <= 0:
            raise ValueError(f"--task-timeout-s must be positive, got {time_limit_s}")
        self.image_config, self.video_config, self.time_limit_s = image_config, video_config, time_limit_s
        self._child: multiprocessing.Process | None = None
        self._connection: Connection | None = None

    def outcome(self, item: InputItem) -> Outcome:
        if item.rejection is not None:  # decided at enumeration: nothing to run
            return process_item(item, self.image_config, self.video_config)
        if self._child is None:
            self._start()
        try:
            self._connection.send(item)
            if not self._connection.poll(self.time_limit_s):
                self.close()
                return timed_out(item, self.time_limit_s)
            return self._connection.recv()
        except (EOFError, OSError):  # the child died (a decoder crash, an OOM kill)
            child = self._child
            self.close()
            return Outcome(item.source, stage="worker",
                           reason=f"worker failed: the process preparing it died (exit code {child.exitcode})")

    def close(self) -> None:
        """Stop the child (the next input starts a new one)."""
        if self._child is not None:
            self._child.kill()
            self._child.join()
            self._connection.close()
            self._child = self._connection = None

    def _start(self) -> None:
        self._connection, child_end = _CONTEXT.Pipe()
        child = _CONTEXT.Process(target=_serve, args=(child_end, self.image_config, self.video_config),
                                 name="mmssl-prepare-local", daemon=True)
        try:
            child.start()
        except BaseException:  # e.g. a script without `if __name__ == "__main__":` under forkserver
            self._connection.close()
            self._connection = None
            raise
        finally:
            child_end.close()
        self._child = child  # only a started child: close() must not kill one that never ran


def _serve(connection: Connection, image_config: ImageConfig, video_config: VideoConfig) -> None:
    """The child's loop: an input in, its outcome out, until the driver closes the pipe."""
    while True:
        try:
            item = connection.recv()
        except EOFError:
            return
        connection.send(process_item(item, image_config, video_config))
