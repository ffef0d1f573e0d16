"""`lettering serve` answers keep-alive requests without waiting on Nagle and delayed ACKs."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from lettering.core.serving import NoDelayH11Protocol


class Recording(NoDelayH11Protocol):
    seen: list[int] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        Recording.seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})


async def test_connections_get_nodelay_even_on_a_listener_bound_without_tcp_proto() -> None:
    # What uvicorn's --workers N does: bind with proto 0, so asyncio leaves Nagle on.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    assert listener.proto == 0
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, http=Recording, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        server.should_exit = True
        await serving
    assert Recording.seen
    assert all(Recording.seen)


def test_plain_asyncio_would_leave_nagle_on_for_such_a_listener() -> None:
    """The reason for the protocol above (if asyncio or uvicorn change, this says so)."""

    async def accepted_nodelay() -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                found.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        nodelay = await found
        writer.close()
        server.close()
        return nodelay

    assert asyncio.run(accepted_nodelay()) == 0
