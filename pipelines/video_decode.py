"""CPU video decoding for the loader: decord, in a child process, under a time limit.

DALI 2.4 decodes H.264 only on the GPU (NVDEC), so on a CPU the sample source decodes the frames a
clip needs with decord and hands DALI the pixels. decord's known failure modes (hangs in
`get_batch`, memory growth over many videos, deadlocks when a reader outlives a fork) would each
stop a training run, so the decoding happens in a child process of whoever calls (the loader's
process or one of DALI's source workers): a decode that overruns `time_limit_s` kills the child
and becomes a `VideoDecodeError`, like any undecodable video, and the child is replaced every
`recycle_after` decodes. The child is started with `subprocess`, not `multiprocessing`, so DALI's
daemonic worker processes may own one too.

Frames come back through shared memory: an anonymous memfd the decoder owns and the child inherits,
grown when a reply does not fit (that reply comes pickled through the pipe instead). Pickling
megabytes of pixels through a pipe cost 5-10 ms per sample; the memfd never outlives both processes.

Run as a module, this file is the child: length-prefixed pickles in on stdin, out on stdout, frames
into the memfd whose descriptor is its first argument.
"""

from __future__ import annotations

import mmap
import os
import pickle
import re
import select
import struct
import subprocess
import sys
import time

import numpy as np

DEFAULT_TIME_LIMIT_S = 20.0
DEFAULT_RECYCLE_AFTER = 1000  # decodes per child process, against decord's slow memory growth
INITIAL_FRAME_BYTES = 8 << 20  # shared frame buffer; grows to 1.25x the largest reply that did not fit
_HEADER = struct.Struct("<Q")


class VideoDecodeError(RuntimeError):
    """The video's frames could not be decoded (bad data, or the decoder overran its time limit)."""


class GuardedVideoDecoder:
    """`decode(mp4, frame_indices)` -> uint8 [len(frame_indices), H, W, 3], in a recycled child process.

    `visits` counts decode calls (one per video visit, however many frames it returns).
    """

    def __init__(self, time_limit_s: float = DEFAULT_TIME_LIMIT_S, recycle_after: int = DEFAULT_RECYCLE_AFTER):
        if time_limit_s <= 0 or recycle_after < 1:
            raise ValueError(f"time_limit_s must be > 0 and recycle_after >= 1, got {time_limit_s}, {recycle_after}")
        self.time_limit_s, self.recycle_after = time_limit_s, recycle_after
        self.visits = 0
        self._child: subprocess.Popen | None = None
        self._served = 0
        self._buffer: _FrameBuffer | None = None

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _child=None, _served=0, _buffer=None)  # each process starts its own child

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child (the shared buffer stays for the next one)."""
        if self._child is not None:
            self._child.kill()
            self._child.wait()
            self._child.stdin.close()
            self._child.stdout.close()
            self._child = None

    def decode(self, mp4: bytes, frame_indices) -> np.ndarray:
        """The frames `frame_indices` (any order, repeats allowed) of the video `mp4`, in that order."""
        indices = [int(i) for i in frame_indices]
        if not indices or min(indices) < 0:
            raise ValueError(f"frame indices must be non-empty and >= 0, got {indices}")
        self.visits += 1
        if self._child is not None and self._served >= self.recycle_after:
            self.close()
        if self._buffer is None:
            self._buffer = _FrameBuffer(INITIAL_FRAME_BYTES)
        if self._child is None:
            fd = self._buffer.fd
            self._child = subprocess.Popen([sys.executable, "-m", __name__, str(fd)], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, pass_fds=(fd,))
            self._served = 0
        self._served += 1
        try:
            _send(self._child.stdin, (bytes(mp4), indices, self._buffer.size))
            status, value = _receive(self._child.stdout, deadline=time.monotonic() + self.time_limit_s)
        except TimeoutError:
            self.close()
            raise VideoDecodeError(f"video decode took longer than {self.time_limit_s:g} s (decoder restarted)") from None
        except (OSError, EOFError, pickle.UnpicklingError) as error:
            self.close()
            raise VideoDecodeError(f"video decoder process died ({error or type(error).__name__})") from None
        if status == "shared":  # value: the frames' shape, their pixels in the buffer
            return self._buffer.read(value)
        if status == "ok":  # too big for the buffer: pickled; make room for the next one
            self._buffer.grow(value.nbytes)
            return value
        raise VideoDecodeError(value)


class _FrameBuffer:
    """An anonymous shared-memory file (memfd) for decoded frames, mapped here and in the child."""

    def __init__(self, size: int):
        self.fd = os.memfd_create("mmssl-video-frames")
        self.size, self._map = 0, None
        self.grow(size)

    def __del__(self) -> None:
        if self._map is not None:
            self._map.close()
        os.close(self.fd)

    def grow(self, needed: int) -> None:
        if needed <= self.size:
            return
        self.size = max(int(needed * 1.25), self.size)
        os.ftruncate(self.fd, self.size)
        if self._map is not None:
            self._map.close()
        self._map = mmap.mmap(self.fd, self.size)

    def read(self, shape) -> np.ndarray:
        """A copy of the uint8 frames of `shape` at the start of the buffer (the next decode overwrites it)."""
        return np.ndarray(shape, np.uint8, buffer=self._map).copy()


def _send(stream, message) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _read_exactly(fd: int, count: int, deadline: float | None) -> bytes:
    chunks, remaining = [], count
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("end of stream")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _receive(stream, deadline: float | None = None):
    fd = stream.fileno()
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exactly(fd, size, deadline))


def decode_frames(mp4: bytes, indices: list[int], out: memoryview | None = None) -> np.ndarray:
    """decord, in this process: each distinct frame decoded once, returned in the order asked.

    With `out` (a writable buffer) big enough, the frames are written there and the array views it.
    """
    import io

    import decord

    reader = decord.VideoReader(io.BytesIO(mp4), ctx=decord.cpu(0), num_threads=1)
    count = len(reader)
    if count == 0:
        raise VideoDecodeError("video has no frames")
    # a container may over-report its frames: past the last real one, the last frame repeats
    wanted = sorted({min(i, count - 1) for i in indices})
    frames = reader.get_batch(wanted).asnumpy()
    position = {frame: k for k, frame in enumerate(wanted)}
    order = [position[min(i, count - 1)] for i in indices]
    shape = (len(order), *frames.shape[1:])
    if out is not None and np.prod(shape) <= len(out):
        return np.take(frames, order, axis=0, out=np.ndarray(shape, np.uint8, buffer=out))
    return np.ascontiguousarray(frames[order])


_LOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*\S+:\d+:\s*")  # "[13:54:33] /path/threaded_decoder.cc:218: "
_FAILED_CHECK = re.compile(r"^Check failed: .*\((-?\d+) vs\. -?\d+\)\s*(?:Thread worker:\s*)?(.*)$")
_AVERROR_INVALIDDATA = -1094995529  # FFmpeg's AVERROR_INVALIDDATA ("INDA")


def _short_reason(error: Exception) -> str:
    """decord's message without its timestamps, source paths and failed-check expression.

    `[t] a.cc:292: [t] b.cc:218: Check failed: send_packet(...) >= 0 (-1094995529 vs. 0) Thread worker:
    Error sending packet.` becomes `Error sending packet (invalid data)`."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    while (stripped := _LOG_PREFIX.sub("", text, count=1)) != text:
        text = stripped
    if text.startswith("Check failed: run_.load()"):  # its decoding thread already stopped on an earlier error
        return "the decoder stopped on bad data"
    if failed := _FAILED_CHECK.match(text):
        code, message = int(failed.group(1)), failed.group(2).strip().rstrip(".") or "check failed"
        meaning = "invalid data" if code == _AVERROR_INVALIDDATA else os.strerror(-code) if -200 < code < 0 else None
        text = f"{message} ({meaning})" if meaning else message
    return text.strip() or type(error).__name__


def _serve(buffer_fd: int) -> None:
    """The child's loop: one request, one reply, until the parent closes stdin."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    shared, mapped = None, 0
    while True:
        try:
            mp4, indices, size = _receive(stdin)
        except EOFError:
            return
        if size != mapped:  # the parent grew the buffer
            shared, mapped = mmap.mmap(buffer_fd, size), size
        try:
            frames = decode_frames(mp4, indices, memoryview(shared))
            reply = ("shared", frames.shape) if np.shares_memory(frames, np.frombuffer(shared, np.uint8)) else ("ok", frames)
        except Exception as error:  # noqa: BLE001  any failure is this video's, reported to the parent
            reply = ("error", f"video does not decode (decord: {_short_reason(error)})")
        _send(stdout, reply)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
