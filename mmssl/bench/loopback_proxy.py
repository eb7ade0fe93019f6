"""A TCP proxy on 127.0.0.1 in front of a local store: adds latency, drops requests, logs them.

For benchmarks and tests only. Loopback answers a range request in about 2 ms; a cloud store takes
10-50 ms. Putting this proxy between the reader and a local S3 server delays every request sent
through it by `delay_s` (each chunk the client sends waits that long before it is forwarded; an
HTTP/1.1 client sends one request per chunk and waits for the answer), so a benchmark shows whether
requests kept in flight hide the latency. `drop_next(n)` closes the connection of the next n
range requests (GETs with a Range header) without an answer, as a network or a failing store
would: the reader must retry. Every
request line seen (`GET /bucket/key`, with its Range header) is logged, so a test can count the
requests the store received, independently of the reader's own counts.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

HTTP_METHODS = (b"GET ", b"HEAD ", b"PUT ", b"POST ", b"DELETE ")
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class LoggedRequest:
    line: str  # e.g. "GET /bucket/prefix/shards/shard-000000.tar HTTP/1.1"
    range: str | None  # e.g. "bytes=1536-4095"


class LoopbackProxy:
    """`start()` -> its port; `stop()` ends it. Runs its own event loop in a daemon thread."""

    def __init__(self, upstream_host: str, upstream_port: int, delay_s: float = 0.0):
        if not upstream_host.startswith("127.") and upstream_host != "localhost":
            raise ValueError(f"the proxy forwards to this machine only, got {upstream_host}")
        self.upstream, self.delay_s = (upstream_host, upstream_port), delay_s
        self.requests: list[LoggedRequest] = []
        self._drop = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="loopback-proxy")

    def start(self) -> int:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop)
        self._server = started.result(timeout=10)
        return self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            connections = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in connections:  # clients may keep idle connections open in their pools
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def drop_next(self, count: int) -> None:
        """Close the connections of the next `count` range requests without answering them."""
        with self._lock:
            self._drop = count

    def _log(self, chunk: bytes) -> bool:
        """Record a request that starts in `chunk`; True when it is to be dropped."""
        if not chunk.startswith(HTTP_METHODS):
            return False
        head = chunk.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        ranges = [line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("range:")]
        with self._lock:
            self.requests.append(LoggedRequest(head[0], ranges[0] if ranges else None))
            if self._drop > 0 and ranges:
                self._drop -= 1
                return True
        return False

    async def _serve(self, client_reader, client_writer) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return

        async def to_upstream() -> None:
            while chunk := await client_reader.read(CHUNK_BYTES):
                if self._log(chunk):
                    return
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                upstream_writer.write(chunk)
                await upstream_writer.drain()

        async def to_client() -> None:
            while chunk := await upstream_reader.read(CHUNK_BYTES):
                client_writer.write(chunk)
                await client_writer.drain()

        async def until_closed(forward) -> None:
            try:
                await forward()
            except (ConnectionError, OSError):  # either side went away: the connection ends
                pass

        tasks = [asyncio.create_task(until_closed(to_upstream)), asyncio.create_task(until_closed(to_client))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the proxy stops
            pass
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_writer, upstream_writer):
                writer.close()
