"""A TCP fault proxy for tests: it forwards 127.0.0.1:<port> to an upstream port and, switched at
run time, injects the faults a network between the service and a carrier or dealer can have.

Modes (`FaultProxy.mode`, read on every chunk, so a switch also hits open keep-alive connections):
- `pass`: bytes forwarded as they come;
- `latency`: each request chunk waits `latency_s` before it is forwarded;
- `hang`: the connection is accepted, what the client sends is read and dropped, nothing answered;
- `reset`: the connection is closed with an RST (SO_LINGER 0);
- `half_close`: the request is read, then the proxy closes its sending side (FIN) without answering;
- `slow`: the upstream's answer trickles back one byte every `slow_byte_s`.

toxiproxy would do the same, but its Debian package is not available here.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import threading
from collections.abc import Iterator


class Mode(enum.StrEnum):
    passthrough = "pass"
    latency = "latency"
    hang = "hang"
    reset = "reset"
    half_close = "half_close"
    slow = "slow"


CHUNK = 65536


class FaultProxy:
    """The proxy, running in a thread with its own event loop (`start` / `stop`)."""

    def __init__(self, upstream_port: int, *, latency_s: float = 2.0, slow_byte_s: float = 0.05) -> None:
        self.upstream_port = upstream_port
        self.mode = Mode.passthrough
        self.latency_s = latency_s
        self.slow_byte_s = slow_byte_s
        self.connections = 0  # accepted so far
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    @contextlib.contextmanager
    def fault(self, mode: Mode) -> Iterator[None]:
        """`mode` for the block, then back to pass-through."""
        self.mode = mode
        try:
            yield
        finally:
            self.mode = Mode.passthrough

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode is Mode.reset:
            _reset(writer)
            return
        if self.mode in (Mode.hang, Mode.half_close):
            await self._refuse(self.mode, reader, writer)
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            upward = asyncio.ensure_future(self._requests(reader, writer, up_writer))
            downward = asyncio.ensure_future(self._answers(up_reader, writer))
            _, pending = await asyncio.wait({upward, downward}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            with contextlib.suppress(Exception):
                up_writer.close()

    async def _refuse(self, mode: Mode, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Hang or half-close: read the request, answer nothing; the client gives up."""
        data = await reader.read(CHUNK)
        if mode is Mode.half_close:
            writer.write_eof()
        while data:
            data = await reader.read(CHUNK)

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: asyncio.StreamWriter
    ) -> None:
        while data := await reader.read(CHUNK):
            mode = self.mode
            if mode is Mode.reset:
                _reset(writer)
                return
            if mode in (Mode.hang, Mode.half_close):
                if mode is Mode.half_close:
                    writer.write_eof()
                while await reader.read(CHUNK):
                    pass
                return
            if mode is Mode.latency:
                await asyncio.sleep(self.latency_s)
            up.write(data)
            await up.drain()

    async def _answers(self, up: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await up.read(CHUNK):
            if self.mode is Mode.slow:
                for i in range(len(data)):
                    writer.write(data[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(self.slow_byte_s)
            else:
                writer.write(data)
                await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
